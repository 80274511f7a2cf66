"""Visualisation: where each stage's decoder looks."""
