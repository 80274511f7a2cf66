"""Evaluation: ZSL/GZSL metrics, calibrated stacking and probability calibration, scoring sample lists."""
