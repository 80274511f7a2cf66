"""mgmrn: zero-shot image classification with the Multi-Granularity Mutual Refinement Network."""

__version__ = "0.1.0"
