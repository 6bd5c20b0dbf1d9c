"""The models of a fleet run (pipelines/monitoring_fleet.py)."""
