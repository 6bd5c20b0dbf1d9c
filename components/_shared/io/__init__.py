"""The one I/O package: tables from local paths and S3, read whole or streamed in batches.

- `s3`: the minio client, its errors, listings, uploads, streamed and ranged reads.
- `whole`: CSV/Parquet bytes parsed by pandas, Parquet artifacts in and out (size-checked).
- `sources`: Arrow record batches of a Parquet file, folder or prefix, or a CSV (drift, load).
- `parts`: the Parquet parts of a folder or prefix, brought to local disk while hashed.

The names below are re-exported for the steps that read or write artifacts; submodules are
imported directly where pandas must not be (the streaming path).
"""

from components._shared.io.s3 import parse_s3_uri, s3_client, s3_read_error, upload_file
from components._shared.io.whole import (
    FORMATS,
    Table,
    parquet_schema,
    parse_table,
    read_bytes,
    read_parquet,
    read_table,
    table_format,
    write_parquet,
)

__all__ = [
    "FORMATS",
    "Table",
    "parquet_schema",
    "parse_s3_uri",
    "parse_table",
    "read_bytes",
    "read_parquet",
    "read_table",
    "s3_client",
    "s3_read_error",
    "table_format",
    "upload_file",
    "write_parquet",
]
