"""Model adapters: turn a prompt and tool schemas into a completion, whichever model is behind it."""
