"""Training: the phases of a run (Trainer), the epoch loop, the loss (Eq. 11-13), optimiser and profiling."""
