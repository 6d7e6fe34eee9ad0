"""The shop's catalog, orders, and the order tools the assistant may call."""
