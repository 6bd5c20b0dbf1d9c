"""Plan a sharded drift run: byte-balanced shards of whole row groups, and the drift plan."""
