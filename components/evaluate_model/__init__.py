"""Evaluate a trained classifier against thresholds and the registered champion."""
