"""Pipeline definitions, compilation, the CLI, local runs and the embedded stack."""
