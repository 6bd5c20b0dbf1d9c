"""Live comparison gate core: the challenger's shadow predictions judged against the champion's.

Pure: a window of the prediction log and the labels in, a ComparisonResult out (no I/O but
the label schema store when a label_schema is pinned).
"""

import math

import numpy as np
import pandas as pd

from components._shared.errors import ConfigError, DataError, one_of
from components._shared.labels.accept import accept_labels
from components._shared.logformat import PREDICTION, classes_of
from components.compare_live import stats
from components.compare_live.fairness import feature_fairness
from components.compare_live.pairs import (
    VERSION,
    PairCounts,
    attach_labels,
    pair_rows,
    split_endpoints,
)
from components.compare_live.result import ComparisonResult

START_SHADOW = (
    "start a shadow: `kfp-mlops serve models:/NAME@champion --shadow models:/NAME@challenger`, "
    "or the deploy pipeline's shadow_version, and let it serve traffic for the window"
)
NARROWER = "give a narrower window (start_date/end_date) or challenger_version"


def _settings(s: dict) -> None:
    if s["metric"] not in stats.METRICS:
        raise one_of("metric", s["metric"], stats.METRICS)
    for name in ("min_requests", "min_labelled_rows", "min_group_rows", "bootstrap"):
        if isinstance(s[name], bool) or not isinstance(s[name], int) or s[name] < 1:
            raise ConfigError(f"{name}={s[name]!r}; give a whole number of 1 or more")
    for name in ("max_metric_drop", "min_agreement", "max_fairness_gap"):
        if not math.isfinite(s[name]):
            raise ConfigError(f"{name}={s[name]}; give a finite number")
    if s["max_metric_drop"] < 0:
        raise ConfigError(
            f"max_metric_drop={s['max_metric_drop']}; give 0 or more (how far below the "
            "champion the interval's lower bound may reach)"
        )
    if not 0 <= s["min_agreement"] <= 1:
        raise ConfigError(f"min_agreement={s['min_agreement']}; give a share in [0, 1]")


def _require(log: pd.DataFrame, sensitive: list[str]) -> None:
    needed = ["request_id", "time", VERSION, PREDICTION, *sensitive]
    missing = [c for c in needed if c not in log.columns]
    if missing:
        raise DataError(
            f"the prediction log lacks column(s) {missing}; it has {list(log.columns)}; "
            "sensitive_features must name inputs the log records"
        )


def _numeric(predictions: pd.Series) -> bool:
    kind = predictions.dtype
    return pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_bool_dtype(kind)


def _classes(log: pd.DataFrame, numeric: bool) -> list:
    seen = set(log[PREDICTION].dropna().unique().tolist())
    named = classes_of(log.columns)
    if numeric:
        named = [
            int(v) if float(v).is_integer() else float(v)
            for v in pd.to_numeric(pd.Series(named, dtype=object), errors="coerce").dropna()
        ]
    else:
        seen = {str(v) for v in seen}
    return sorted(seen | set(named))


def _positive(classes: list, positive_label: str, metric: str):
    if len(classes) != 2:
        if metric == "roc_auc":
            raise DataError(
                f"metric roc_auc needs two classes; the models predict {classes}; use accuracy"
            )
        return None
    if not positive_label:
        return classes[1]
    for c in classes:
        if str(c) == positive_label.strip():
            return c
    raise ConfigError(f"positive_label {positive_label!r} is none of the classes {classes}")


def _cannot(reason: str, settings: dict, **known) -> ComparisonResult:
    return ComparisonResult(
        passed=False, cannot_judge=True, reasons=[f"CANNOT JUDGE: {reason}"], settings=settings,
        metric=settings["metric"], **known,
    )  # fmt: skip


def _versions(values: pd.Series) -> list[str]:
    return sorted({str(v) for v in values.dropna().unique()}, key=lambda v: (len(v), v))


def _metric(rows: pd.DataFrame, settings: dict, positive) -> tuple[dict, list[str]]:
    """The metric of each model, the interval of the difference, and what fails."""
    metric = settings["metric"]
    if metric == "roc_auc":
        for model in ("champion", "challenger"):
            if rows[f"{model}_proba"].isna().any():
                raise DataError(
                    f"metric roc_auc needs the {model}'s probability of {positive!r} on every "
                    f"labelled row; the log lacks it on {int(rows[f'{model}_proba'].isna().sum())}"
                    " rows (log proba_<class>, or use metric accuracy)"
                )
    y = rows["label"].to_numpy()
    scorers = {
        m: stats.Scorer.of(metric, y, rows[m].to_numpy(), rows[f"{m}_proba"].to_numpy(), positive)
        for m in ("champion", "challenger")
    }
    request = pd.factorize(rows["request_id"])[0]
    interval = stats.paired_bootstrap(
        request, scorers["champion"], scorers["challenger"], settings["bootstrap"],
        settings["seed"],
    )  # fmt: skip
    ones = np.ones(len(rows))
    values = {
        "champion_value": scorers["champion"].value(ones),
        "challenger_value": scorers["challenger"].value(ones),
        "delta": interval.delta,
        "delta_low": interval.low,
        "delta_high": interval.high,
        "method": interval.method(),
    }
    if not all(math.isfinite(v) for v in (interval.delta, interval.low)):
        return values, [f"CANNOT JUDGE: {metric} is undefined on these labels (one class only?)"]
    if interval.too_often_undefined():
        return values, [
            f"CANNOT JUDGE: {metric} was undefined on {interval.undefined} of "
            f"{interval.resamples} resamples (a draw of requests with labels of one class): too "
            "few labelled rows of a class to bound the difference; wait for more labels"
        ]
    drop = settings["max_metric_drop"]
    if interval.low < -drop:
        return values, [
            f"{metric}: challenger - champion {interval.delta:+.4f}, 95 % interval "
            f"[{interval.low:+.4f}, {interval.high:+.4f}]; its lower bound is below "
            f"-{drop} (max_metric_drop)"
        ]
    return values, []


def _fairness(rows: pd.DataFrame, settings: dict, positive) -> tuple[list, list, list]:
    checked, reasons, notes = [], [], []
    limit = settings["max_fairness_gap"]
    for feature in settings["sensitive_features"]:
        found = feature_fairness(rows, feature, positive, settings["min_group_rows"])
        checked.append(found)
        if found["unjudged"]:
            if limit < 0:  # reported only: said, not a verdict
                notes.append(found["unjudged"])
            else:
                reasons.append(f"CANNOT JUDGE: {found['unjudged']}")
            continue
        small = [g["group"] for g in found["groups"] if g["small"]]
        if small:
            notes.append(
                f"{feature}: group(s) {small} have fewer than {settings['min_group_rows']} "
                "labelled rows (min_group_rows): shown, not judged"
            )
        gap = found["challenger_gap"]
        if limit < 0:
            continue
        if gap is None:
            reasons.append(
                f"CANNOT JUDGE: {feature}: fewer than two groups with {settings['min_group_rows']}"
                " labelled rows (min_group_rows)"
            )
        elif gap > limit:
            reasons.append(
                f"{feature}: challenger's {found['measure']} {gap:.4f} > {limit} "
                f"(max_fairness_gap; champion's {found['champion_gap']})"
            )
    return checked, reasons, notes


def compare_live(
    log: pd.DataFrame,
    labels: pd.DataFrame | None,
    *,
    metric: str = "accuracy",
    positive_label: str = "",
    challenger_version: str = "",
    min_requests: int = 100,
    min_labelled_rows: int = 100,
    max_metric_drop: float = 0.0,
    min_agreement: float = 0.0,
    sensitive_features: list | tuple = (),
    max_fairness_gap: float = 0.1,
    min_group_rows: int = 30,
    bootstrap: int = 1000,
    seed: int = 0,
    label_schema: str = "",
    schemas=None,
) -> ComparisonResult:
    """Judge the shadow's version against the primary's on the rows both predicted.

    Passes only when the challenger's metric - the champion's has a 95 % interval (paired
    bootstrap over requests) whose lower bound is >= -max_metric_drop, agreement is at least
    min_agreement, and each sensitive feature's gap of the challenger is at most
    max_fairness_gap (below 0: not checked). Cannot judge (not passed): no shadow rows, more
    than one shadow or champion version, fewer than min_requests paired requests or
    min_labelled_rows labelled paired rows, a metric or gap that cannot be computed.

    Raises:
        ConfigError: A bad setting (unknown metric, a count below 1, a bad positive_label).
        DataError: Missing columns, labels that are not the models' classes, roc_auc
            without logged probabilities or with more than two classes.
    """
    settings = {k: v for k, v in locals().items() if k not in ("log", "labels", "schemas")}
    settings["sensitive_features"] = list(sensitive_features)
    _settings(settings)
    _require(log, settings["sensitive_features"])
    primary, shadow = split_endpoints(log)
    seen = _versions(shadow[VERSION])
    if challenger_version:
        shadow = shadow[shadow[VERSION].astype(str) == str(challenger_version)]
    if shadow.empty:
        which = f" of version {challenger_version} (versions shadowed: {seen})" if seen else ""
        return _cannot(f"no shadow rows{which} in the window; {START_SHADOW}", settings)
    if len(seen) > 1 and not challenger_version:
        return _cannot(f"the window holds shadow rows of versions {seen}; {NARROWER}", settings)
    numeric = _numeric(log[PREDICTION])
    classes = _classes(log, numeric)
    positive = _positive(classes, positive_label, metric)
    paired, counts = pair_rows(primary, shadow, settings["sensitive_features"], positive)
    if not numeric:
        paired["champion"] = paired["champion"].astype(str)
        paired["challenger"] = paired["challenger"].astype(str)
    known = {"challenger_version": str(shadow[VERSION].iloc[0]), "classes": classes}
    champions = _versions(paired["champion_version"])
    known["champion_version"] = champions[0] if len(champions) == 1 else ""
    if labels is not None:
        labels, label_counts = accept_labels(labels, label_schema, schemas)
        known["label_counts"] = label_counts.as_dict()
        paired, label_numbers = attach_labels(paired, labels, numeric)
        counts |= label_numbers
        unknown = sorted({str(v) for v in paired["label"].dropna()} - {str(c) for c in classes})
        if unknown:
            raise DataError(
                f"labels hold values {unknown[:5]} that are none of the models' classes "
                f"{classes}; fix those labels (or the class coding) and run again"
            )
    else:
        paired["label"] = np.nan
    known["counts"] = PairCounts(**counts)
    if len(champions) > 1:
        return _cannot(f"the shadowed requests were answered by champion versions {champions}; "
                       f"{NARROWER}", settings, **known)  # fmt: skip
    if counts["requests"] == 0:
        return _cannot(f"no shadow row has its primary row in the window; {START_SHADOW}",
                       settings, **known)  # fmt: skip
    known["agreement"] = stats.agreement(paired)
    known["shares"] = stats.shares(paired, classes)
    if counts["requests"] < min_requests:
        return _cannot(
            f"{counts['requests']} paired requests < {min_requests} (min_requests); "
            "let the shadow serve longer or widen the window", settings, **known,
        )  # fmt: skip
    labelled = paired[paired["label"].notna()]
    if len(labelled) < min_labelled_rows:
        return _cannot(f"{len(labelled)} labelled paired rows < {min_labelled_rows} "
                       "(min_labelled_rows); wait for labels (labels_uri) or widen the window",
                       settings, **known)  # fmt: skip
    values, reasons = _metric(labelled, settings, positive)
    if known["agreement"] < min_agreement:
        reasons.append(f"agreement {known['agreement']:.4f} < {min_agreement} (min_agreement)")
    fairness, unfair, notes = _fairness(labelled, settings, positive)
    reasons += unfair
    return ComparisonResult(
        passed=not reasons,
        cannot_judge=any(r.startswith("CANNOT JUDGE") for r in reasons),
        reasons=reasons,
        notes=notes,
        metric=metric,
        fairness=fairness,
        settings=settings,
        **known,
        **values,
    )
