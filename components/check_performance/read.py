"""Read the live-performance gate's inputs: the prediction log's days, and the labels.

Labels are read by components/_shared/labels/read.py (shared with the training-set builder);
`read_labels` is re-exported here for the gate's callers.
"""

import pandas as pd
import pyarrow as pa

from components._shared.io.partitions import DateWindow, in_window
from components._shared.io.parts import parquet_parts
from components._shared.io.sources import open_source
from components._shared.labels.read import read_labels
from components._shared.logformat import JOIN_COLUMNS, PROBA_PREFIX


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary-encoded text (how the streaming reader gives it) back to plain text."""
    fields = [
        f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def read_predictions(uri: str, window: DateWindow) -> pd.DataFrame:
    """The prediction log's rows in the window: request_id, time, prediction, proba_<class>.

    Only those columns are read (a model's inputs stay on S3). Parts of other model versions
    may name other classes: a column a part lacks is null there.

    Args:
        uri: The model's log prefix, `s3://BUCKET/predictions/<model>/` (or a local folder),
            laid out in `date=YYYY-MM-DD/` folders.
        window: The days to read; empty: every day there is.

    Raises:
        DataError: No Parquet part, or none in the window (the message names the days there
            are), or an unreadable part.
    """
    tables = []
    for part in in_window(parquet_parts(uri), window, uri):
        source = open_source(part.uri, "prediction log")
        names = source.schema.names
        wanted = [n for n in names if n in JOIN_COLUMNS or n.startswith(PROBA_PREFIX)]
        tables.append(_plain(source.table(wanted)))
    return pa.concat_tables(tables, promote_options="permissive").to_pandas()


__all__ = ["read_labels", "read_predictions"]
