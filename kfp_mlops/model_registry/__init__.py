"""Registry operations from the CLI: rollback of the champion alias and its history."""
