"""Labels and their versioned schemas (issue 20, part 2).

- `read`: label files (CSV/Parquet, a file or a prefix of them), each row with its schema version
  (and, for provenance, each file with the sha256 of the bytes read).
- `definition`: a schema file checked and hashed; compatibility of a new version (no I/O).
- `schemas`: the schema store on S3 (`NAME@vN`, create-only).
- `accept`: keep the labels of a pinned version (or mapped into it), count the rest.
- `rowkeys`: how a label names a logged row (request_id, row), the latest label per row.
"""
