"""Measured figures (not tests): `make bench`."""
