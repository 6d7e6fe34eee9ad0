"""Model adapters: turn a prompt and tool schemas into a completion, whatever the model."""
