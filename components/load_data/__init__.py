"""Load a CSV or Parquet table and snapshot it as a Parquet dataset with its content hash."""
