"""End to end: drifted data → monitoring run → pushed drift verdict → Prometheus evaluates the
shipped KfpMlopsDriftDetected rule → Alertmanager posts it to a webhook this test runs.

Everything is real: the stack's Prometheus, Pushgateway and Alertmanager processes (Debian's
binaries, `make monitoring-tools`), the compiled monitoring pipeline run with kfp.local, and an
HTTP receiver on 127.0.0.1. The time from the end of the run to the webhook's post is printed
(`pytest -s`); it is the local loop's alert latency with the shipped rule timings.
"""

import pytest

from components._shared.pushgateway import GateFigures, push_gate
from tests.monitoring_stack import stack_env, wait_for_series

pytestmark = pytest.mark.stack
# Scrape (5 s) + rule evaluation (5 s) + Alertmanager group_wait (5 s), with room for a busy
# 2-core machine; the rule itself has no `for:`.
ALERT_TIMEOUT_S = 90


def test_drifted_monitoring_run_alert_reaches_webhook_with_labels(
    drifted_monitoring_run, monitored_stack, alert_receiver
):
    summary, ended, model = drifted_monitoring_run
    assert summary["drifted"] is True and summary["gates"]["drift"]["passed"] is False

    # Until the gates push on their own (branch `gates`), the run's verdict is pushed here.
    patch = stack_env(monitored_stack)
    patch.setenv("KFP_MLOPS_PIPELINE", "monitoring")
    try:
        drift = summary["gates"]["drift"]
        pushed = push_gate(
            GateFigures(
                gate="drift",
                model=model,
                passed=drift["passed"],
                metrics={"drift_share": drift["metrics"]["drift_share"]},
            )
        )
    finally:
        patch.undo()
    assert pushed

    arrived, alert = alert_receiver.wait_for_alert(
        ALERT_TIMEOUT_S, alertname="KfpMlopsDriftDetected", model=model
    )
    print(
        f"\nalert latency: run ended → webhook received KfpMlopsDriftDetected in "
        f"{arrived - ended:.1f} s"
    )
    labels = alert["labels"]
    assert labels["gate"] == "drift" and labels["pipeline"] == "monitoring"
    assert labels["severity"] == "warning"
    assert model in alert["annotations"]["summary"]
    # Prometheus holds the pushed verdict with the pushed labels (honor_labels), not its own job.
    [series] = wait_for_series(
        monitored_stack.prometheus.url, f'kfp_mlops_gate_passed{{model="{model}"}}', 30
    )
    assert series["metric"]["job"] == "kfp_mlops_gate" and series["value"][1] == "0"
