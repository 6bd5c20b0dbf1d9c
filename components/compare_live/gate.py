"""The comparison on its URIs: the log's window and the labels read, then judged."""

from pathlib import Path

from components._shared.input_checks import check_scheme
from components._shared.io.logwindow import read_log_window
from components._shared.io.partitions import DateWindow
from components._shared.io.parts import is_collection
from components._shared.io.s3 import s3_objects
from components._shared.io.whole import FORMATS
from components._shared.labels.read import read_labels
from components._shared.logformat import LEADING, PREDICTION, PROBA_PREFIX
from components.compare_live.core import compare_live
from components.compare_live.pairs import ENDPOINT
from components.compare_live.result import ComparisonResult


def _no_label_file(uri: str) -> bool:
    """A folder or S3 prefix that holds no label file yet (S3 has no empty folders)."""
    check_scheme(uri)
    if not is_collection(uri):
        return False
    if uri.startswith("s3://"):
        return not s3_objects(uri, tuple(FORMATS))[1]
    return not any(p.suffix.lower() in FORMATS for p in Path(uri).rglob("*"))


def judge_uris(
    predictions_uri: str, labels_uri: str, window: DateWindow, **settings
) -> ComparisonResult:
    """Read the log's window (only the columns judged) and the labels; compare.

    An empty labels_uri, or a prefix with no label file yet, gives no labels: the gate
    cannot judge the metric (min_labelled_rows) but still reports agreement and shares.

    Raises:
        DataError, ConfigError: As core.compare_live and the readers raise them.
        ServiceError: S3 is not configured or does not answer.
    """
    inputs = set(settings.get("sensitive_features") or ())
    kept = {*LEADING, ENDPOINT, PREDICTION, *inputs}
    log = read_log_window(
        predictions_uri, window, lambda n: n in kept or n.startswith(PROBA_PREFIX)
    )
    labels = None
    if labels_uri and not _no_label_file(labels_uri):
        labels = read_labels(labels_uri)
    return compare_live(log, labels, **settings)
