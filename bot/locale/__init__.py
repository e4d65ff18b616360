"""Message catalogues: every user-facing text, one module per language."""
