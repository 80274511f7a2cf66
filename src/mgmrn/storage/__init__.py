"""Run storage: checkpoints, run folders and their lock, the feature cache."""
