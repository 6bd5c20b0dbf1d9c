"""Read chosen columns of a prediction log's days: parts listed by `date=` folder, one frame.

The log is laid out as components/_shared/logformat.py says. Readers that judge it
(compare_live, check_performance) list the parts in the date window, keep
only the columns they need (a model's inputs stay on S3 unless asked for) and concatenate.
"""

from collections.abc import Callable

import pandas as pd
import pyarrow as pa

from components._shared.io.partitions import DateWindow, in_window
from components._shared.io.parts import parquet_parts
from components._shared.io.sources import open_source


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary-encoded text (how the streaming reader gives it) back to plain text."""
    fields = [
        f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def read_log_window(uri: str, window: DateWindow, wanted: Callable[[str], bool]) -> pd.DataFrame:
    """The log's rows in the window, with the columns `wanted(name)` accepts.

    A column one part lacks (an older file, another version's classes) is null there.

    Raises:
        DataError: No Parquet part, or none in the window (the message names the days there
            are), or an unreadable part.
    """
    tables = []
    for part in in_window(parquet_parts(uri), window, uri):
        source = open_source(part.uri, "prediction log")
        tables.append(_plain(source.table([n for n in source.schema.names if wanted(n)])))
    return pa.concat_tables(tables, promote_options="permissive").to_pandas()
