"""Registry push: MLflow run, gated model version, lineage tags, aliases, model card."""
