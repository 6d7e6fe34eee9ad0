"""Conversations and the metered chat pipeline: charge, context, model, tools, answer or refund."""
