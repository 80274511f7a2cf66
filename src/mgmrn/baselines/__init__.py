"""Classical zero-shot baselines on fixed features."""

from mgmrn.baselines.eszsl import ESZSL, Selection, select_on_validation

__all__ = ["ESZSL", "Selection", "select_on_validation"]
