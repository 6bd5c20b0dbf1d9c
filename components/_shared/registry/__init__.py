"""The model registry room: one MLflow client, version loading, lease, audit, alias moves."""
