"""Analyses over many runs: ensembles, calibration, comparison, sensitivity, reproduction."""
