"""Novelty check: retrain only when the data, parameters or code differ from the champion."""
