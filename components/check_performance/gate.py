"""The gate on its URIs: labels not there yet, the served version resolved, inputs read, judged."""

from components._shared.io.partitions import DateWindow
from components.check_performance.core import check_performance, no_labels
from components.check_performance.read import no_labels_yet, read_labels, read_predictions
from components.check_performance.result import PerformanceResult
from components.check_performance.served import served_by


def judge_uris(
    labels_uri: str,
    predictions_uri: str,
    window: DateWindow,
    *,
    model_name: str,
    model_alias: str,
    bounds: dict,
    **settings,
) -> PerformanceResult:
    """Judge the served version's logged predictions in the window on the labels there are.

    A folder or prefix with no label file yet → "cannot judge yet" (the log is not read).
    Else the alias is resolved in MLflow ("" = every version), and the log and the labels
    are read and judged (core.check_performance; `settings` are its keyword arguments).

    Raises:
        DataError, ConfigError: As core.check_performance and the readers raise them.
        ServiceError: S3 or MLflow is not configured or does not answer.
    """
    limits = {k: settings[k] for k in ("min_days", "min_labels_per_day", "max_label_delay_days")}
    if no_labels_yet(labels_uri):
        return no_labels(labels_uri, bounds=bounds, **limits)
    served = served_by(model_name, model_alias)
    return check_performance(
        read_predictions(predictions_uri, window),
        read_labels(labels_uri),
        bounds=bounds,
        served=served,
        **settings,
    )
