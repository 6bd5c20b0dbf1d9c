"""Fairness gate: per-group rates and disparity differences (fairlearn)."""
