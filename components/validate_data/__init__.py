"""Validate a dataset with a Great Expectations 1.x suite; bad data fails after its report."""
