"""The comparison on its URIs: the log's window and the labels read, then judged."""

from components._shared.io.logwindow import read_log_window
from components._shared.io.partitions import DateWindow
from components._shared.labels.read import no_labels_yet, read_labels
from components._shared.logformat import LEADING, PREDICTION, PROBA_PREFIX
from components.compare_live.core import compare_live
from components.compare_live.pairs import ENDPOINT
from components.compare_live.result import ComparisonResult


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
    if labels_uri and not no_labels_yet(labels_uri):
        labels = read_labels(labels_uri)
    return compare_live(log, labels, **settings)
