"""Training and evaluation: a readable loop as importable functions (no runner, no hooks)."""
