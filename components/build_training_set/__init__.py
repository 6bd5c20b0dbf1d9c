"""Build a training set from production: the log's inputs joined with their labels."""
