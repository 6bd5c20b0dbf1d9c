"""End to end: drifted data → monitoring run → pushed drift verdict → Prometheus evaluates the
shipped KfpMlopsDriftDetected rule → Alertmanager posts it to a webhook this test runs.

Everything is real: the stack's Prometheus, Pushgateway and Alertmanager processes (Debian's
binaries, `make monitoring-tools`), the compiled monitoring pipeline run with kfp.local, and an
HTTP receiver on 127.0.0.1. The time from the end of the run to the webhook's post is printed
(`pytest -s`); it is the local loop's alert latency with the shipped rule timings.
"""

import pytest

from tests.monitoring_stack import wait_for_series

pytestmark = pytest.mark.stack
# Scrape (5 s) + rule evaluation (5 s) + Alertmanager group_wait (5 s), with room for a busy
# 2-core machine; the rule itself has no `for:`.
ALERT_TIMEOUT_S = 90


def test_drifted_monitoring_run_alert_reaches_webhook_with_labels(
    drifted_monitoring_run, monitored_stack, alert_receiver
):
    summary, ended, model, pushed = drifted_monitoring_run
    drift = summary["gates"]["drift"]
    assert summary["drifted"] is True and drift["passed"] is False

    arrived, alert = alert_receiver.wait_for_alert(
        ALERT_TIMEOUT_S, alertname="KfpMlopsDriftDetected", model=model
    )
    prometheus = monitored_stack.prometheus.url
    # What Prometheus held when the alert went out: later tests run monitoring again here.
    then = arrived
    # The drift gate pushes mid-run; the retrain follows, so the alert can beat the run's end.
    print(
        f"\nalert latency (KfpMlopsDriftDetected at the webhook): {arrived - pushed:.1f} s after "
        f"the drift gate pushed, {arrived - ended:+.1f} s after the monitoring run ended"
    )
    assert pushed < arrived < pushed + ALERT_TIMEOUT_S
    labels = alert["labels"]
    assert labels["gate"] == "drift" and labels["pipeline"] == "monitoring"
    assert labels["severity"] == "warning"
    assert model in alert["annotations"]["summary"]
    # Prometheus holds the pushed verdict with the pushed labels (honor_labels), not its own job.
    [series] = wait_for_series(
        prometheus, f'kfp_mlops_gate_passed{{gate="drift",model="{model}"}}', 30, at=then
    )
    assert series["metric"]["job"] == "kfp_mlops_gate" and series["value"][1] == "0"
    assert series["metric"]["pipeline"] == "monitoring"
    # The drift gate's numbers came with it, per column with its method.
    share = wait_for_series(
        prometheus,
        f'kfp_mlops_gate_metric{{gate="drift",model="{model}",metric="drift_share"}}',
        30,
        at=then,
    )
    assert float(share[0]["value"][1]) == drift["metrics"]["drift_share"]
    drifted = wait_for_series(
        prometheus,
        f'kfp_mlops_drift_column_drifted{{model="{model}",column="credit_amount"}} == 1',
        30,
        at=then,
    )
    assert drifted[0]["metric"]["method"]
    # The retrain (the training sub-pipeline, its gates labelled pipeline="training") passed
    # (asked now: the alert can go out before the retrain's gates push).
    passed = wait_for_series(
        prometheus, f'kfp_mlops_gate_passed{{model="{model}",pipeline="training"}} == 1', 30
    )
    assert {s["metric"]["gate"] for s in passed} == {"validation", "evaluation", "fairness"}
