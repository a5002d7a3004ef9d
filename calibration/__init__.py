"""Calibration: proxy models, training, sweeps and fitting (needs the `calibrate` extra)."""
