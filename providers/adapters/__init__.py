"""One module per model vendor; each imports its SDK and nothing else does."""
