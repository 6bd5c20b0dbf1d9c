"""Deterministic Parquet: the same frame always gives the same bytes (the version is its hash)."""

import io

import pandas as pd

# Fixed writer options: a library default that changes would change every version's hash.
OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "row_group_size": 1 << 20,
}


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as Parquet, without pandas' metadata (it names library versions) or times."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    sink = io.BytesIO()
    pq.write_table(table, sink, **OPTIONS)
    return sink.getvalue()
