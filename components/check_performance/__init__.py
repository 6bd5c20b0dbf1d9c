"""The live-performance gate: delayed labels joined with the prediction log."""
