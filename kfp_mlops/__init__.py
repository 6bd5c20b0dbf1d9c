"""The kfp-mlops tool: CLI, embedded stack, local runs, KFP client, registry operations."""
