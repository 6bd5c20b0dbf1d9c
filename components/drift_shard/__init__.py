"""Count one shard of one side of a sharded drift run into a mergeable state."""
