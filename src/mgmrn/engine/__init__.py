"""Training, evaluation and prediction engine."""
