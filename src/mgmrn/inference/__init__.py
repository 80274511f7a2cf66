"""Inference: classify new images among a saved run's classes or any classes given by attributes."""
