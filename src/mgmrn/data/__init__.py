"""Datasets, class semantics, samplers and transforms."""
