"""Training and evaluation: a readable loop as importable functions (no runner, no hooks)."""
from . import dense  # noqa: F401  (registers the segmentation and pose training tasks with tubelet.engine.objective)
