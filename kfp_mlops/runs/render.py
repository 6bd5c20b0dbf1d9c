"""The human summary printed at the end of a run (`--output text`)."""

import unicodedata
from typing import Any

from components._shared.redact import redact

# Numbers worth a glance per gate (the full set is in --output json and the run folder).
_HEADLINE = {
    "validation": ["expectations_evaluated", "expectations_failed", "rows"],
    "evaluation": ["accuracy", "f1", "roc_auc", "latency_p95_ms"],
    "fairness": ["demographic_parity_difference", "equalized_odds_difference"],
    "drift": ["drift_share", "columns_compared", "columns_drifted", "prediction_drifted"],
    "live_performance": ["used_labels", "judged_days", "precision", "accuracy"],
    "novelty": [],  # its reason says it all: what differs, or "nothing new to learn from"
}


def _numbers(gate: str, metrics: dict[str, Any]) -> str:
    shown = [f"{k}={_short(metrics[k])}" for k in _HEADLINE[gate] if metrics.get(k) is not None]
    return ", ".join(shown)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"
    return str(value)


def _line(value: Any) -> str:
    """Text from data on one terminal line, control characters shown as escapes.

    A column name holding a line break or an ESC cannot start a line of its own (a forged
    verdict) or send terminal control sequences.
    """
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp")
        else ch
        for ch in str(value)
    )


def _verdict(gate: str, result: dict[str, Any]) -> str:
    """A gate's word: a bound it could not judge is neither "passed" nor "BELOW"."""
    if (result.get("report") or {}).get("cannot_judge"):  # nothing it could judge on
        return "CANNOT JUDGE"
    statuses = {c.get("status") for c in result.get("checks", {}).values()}
    if "not_judged" in statuses and "failed" not in statuses:
        return "not judged" if result["passed"] else "NOT JUDGED"
    failed_as = {
        "validation": "FAILED",
        "drift": "DRIFTED",
        "live_performance": "BELOW",
        "novelty": "SKIPPED",  # the retrain: nothing new to learn from
    }.get(gate, "REJECTED")
    return {True: "passed", False: failed_as}.get(result["passed"], "?")


def _said(result: dict[str, Any]) -> list[str]:
    """The reasons, then each bound's status and reason when its reason is not among them."""
    reasons = list(result["reasons"])
    # Every bound's reason (a not-judged or failed one names its status; a passed one is
    # prefixed): a bound passed while below it (too few days in a row) says so here too.
    checks = [
        f"passed: {c['reason']}" if c.get("status") == "passed" else c["reason"]
        for c in result.get("checks", {}).values()
        if c.get("reason") and c["reason"] not in reasons
    ]
    return reasons + checks


def render_text(summary: dict[str, Any], mlflow_url: str | None = None) -> str:
    """The human summary printed at the end of a run, redacted.

    The MLflow URL may carry a user and password, and a summary not built by `summarize`
    may hold raw messages.
    """
    status = summary["status"].upper()
    if summary["status"] == "failed":
        headline = f"FAILED at {summary.get('failed_task') or 'a task'}"
    elif summary.get("outcome"):
        headline = summary["outcome"]
    elif summary["blessed"]:
        headline = "model blessed" + (" and registered" if summary["model"] else "")
    else:
        headline = "model rejected by a gate; nothing registered"
    lines = [
        "",
        f"Pipeline {summary['pipeline']}: {status} "
        f"in {summary.get('duration_s', '?')} s — {headline}",
        "",
    ]
    if summary.get("reference_uri"):
        lines.append(f"  reference  {_line(summary['reference_uri'])}")
    current = summary.get("current")
    if current and current.get("uri"):
        days = f"days {current['date_window']}, " if current.get("date_window") else ""
        lines.append(f"  current    {_line(current['uri'])} ({days}{current['rows']} rows)")
    for gate, result in summary["gates"].items():
        if result is None:
            lines.append(f"  {gate:<11} not run")
            continue
        verdict = _verdict(gate, result)
        lines.append(f"  {gate:<11} {verdict:<9} {_numbers(gate, result['metrics'])}")
        lines += [f"  {'':<11} {'':<9} · {_line(reason)}" for reason in _said(result)[:6]]
    model = summary.get("model")
    lines.append("")
    if model:
        aliases = _line(", ".join(model["aliases"]) or "none")
        lines.append(
            f"  model      {_line(model['name'])} version {model['version']} (aliases: {aliases})"
        )
        if model.get("reason"):
            lines.append(f"  {'':<11}{_line(model['reason'])}")
    else:
        lines.append("  model      none registered")
    if summary.get("error"):
        lines.append(f"  error      {_line(summary['error'])}")
    lines.append("")
    if mlflow_url:
        target = f"/#/models/{model['name']}" if model else ""
        lines.append(f"  MLflow UI  {mlflow_url}{target}")
    lines.append(f"  artifacts  {summary['run_dir']}/outputs  (log: {summary['run_dir']}/run.log)")
    for i, path in enumerate(summary.get("reports") or []):
        lines.append(f"  {'reports' if i == 0 else '':<11}{_line(path)}")
    return redact("\n".join(lines))
