"""Read the live-performance gate's inputs: the prediction log's days, and the labels.

Labels are read by components/_shared/labels/read.py (shared with the training-set builder);
`read_labels` is re-exported here for the gate's callers.
"""

import pandas as pd

from components._shared.io.logwindow import read_log_window
from components._shared.io.partitions import DateWindow
from components._shared.labels.read import no_labels_yet, read_labels
from components._shared.logformat import ENDPOINT, JOIN_COLUMNS, PROBA_PREFIX, primary_only
from components.check_performance.served import VERSION


def read_predictions(uri: str, window: DateWindow) -> pd.DataFrame:
    """The log's rows in the window: request_id, time, model_version, prediction, proba_<class>.

    Primary rows only: a shadow's rows (endpoint "shadow") were never served. Only those
    columns are read (a model's inputs stay on S3). Parts of other model versions
    may name other classes: a column a part lacks is null there.

    Args:
        uri: The model's log prefix, `s3://BUCKET/predictions/<model>/` (or a local folder),
            laid out in `date=YYYY-MM-DD/` folders.
        window: The days to read; empty: every day there is.

    Raises:
        DataError: No Parquet part, or none in the window (the message names the days there
            are), or an unreadable part.
    """
    frame = read_log_window(
        uri,
        window,
        lambda n: n in JOIN_COLUMNS or n in (VERSION, ENDPOINT) or n.startswith(PROBA_PREFIX),
    )
    return primary_only(frame).drop(columns=[ENDPOINT], errors="ignore")


__all__ = ["no_labels_yet", "read_labels", "read_predictions"]
