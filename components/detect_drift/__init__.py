"""Drift gate: per-column distribution tests (Evidently 0.7 defaults) and a dataset verdict."""
