"""Merge a sharded drift run's states and decide, as the one-pod drift gate does."""
