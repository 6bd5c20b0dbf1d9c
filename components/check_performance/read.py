"""Read the live-performance gate's inputs: the prediction log's days, and the labels."""

from pathlib import Path

import pandas as pd
import pyarrow as pa

from components._shared.errors import DataError
from components._shared.input_checks import check_scheme
from components._shared.io.partitions import DateWindow, in_window
from components._shared.io.parts import is_collection, parquet_parts
from components._shared.io.s3 import s3_objects
from components._shared.io.sources import open_source
from components._shared.io.whole import FORMATS, read_table
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


def _label_files(uri: str) -> list[str]:
    suffixes = tuple(FORMATS)
    if uri.startswith("s3://"):
        bucket, objects = s3_objects(uri, suffixes)
        files = [f"s3://{bucket}/{key}" for key, _ in objects]
    else:
        root = Path(uri.removeprefix("file://"))
        files = [str(p) for p in sorted(root.rglob("*")) if p.suffix.lower() in suffixes]
    if not files:
        raise DataError(
            f"{uri} holds no labels: no {sorted(FORMATS)} file under it; write the labels "
            "there as CSV or Parquet with columns request_id, label[, time][, row]"
        )
    return files


def read_labels(uri: str) -> pd.DataFrame:
    """The labels of a CSV/Parquet file, or of every such file under a folder or S3 prefix.

    Files are read in name order, so among repeated labels without a time the one in the
    later file counts (see join.JoinCounts.duplicate_labels).

    Raises:
        DataError: No such file, an empty or unparseable one, an unknown format, or a
            prefix with no CSV/Parquet file.
    """
    check_scheme(uri)
    files = _label_files(uri) if is_collection(uri) else [uri]
    frames = [read_table(f).frame for f in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
