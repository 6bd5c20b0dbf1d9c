"""The notify component: the end-of-run message of every pipeline."""
