"""The loop closed: what the served champion saw is the monitoring pipeline's current data.

A champion trained by the training pipeline (run-local) is served by a real `kfp-mlops serve`
process whose prediction log goes to a prefix of its own. Shifted traffic goes through the
server's V1 route; the monitoring pipeline then reads the log's recent days
(current_last_days), compares the model's inputs with the champion's training snapshot, finds
drift and retrains through the gated training pipeline.
"""

import json
import uuid

import pandas as pd

from components._shared.io import upload_file
from tests.conftest import GERMAN_CREDIT, REPO
from tests.serving import Process, post, read_log, unique_prefix

PARAMS = REPO / "examples" / "training-german-credit.yaml"
TARGET = "risk"


def _shifted(frame: pd.DataFrame) -> pd.DataFrame:
    """Production drifted: larger, longer credits to older applicants, fewer owners."""
    shifted = frame.drop(columns=[TARGET]).copy()
    shifted["credit_amount"] = shifted["credit_amount"] * 3 + 5000
    shifted["duration"] = shifted["duration"] + 40
    shifted["age"] = shifted["age"] + 30
    shifted["housing"] = "free"
    shifted["saving_accounts"] = "rich"  # 5 of the 9 inputs: past the 0.5 drift share
    return shifted


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: missing values as null, numbers as Python numbers."""
    return json.loads(frame.to_json(orient="records"))


def test_closed_loop_shifted_traffic_through_the_server_drifts_and_retrains(cli, stack):
    name = f"loop-{uuid.uuid4().hex[:6]}"
    data_uri = f"s3://kfp-mlops-data/{name}/german_credit.csv"
    upload_file(GERMAN_CREDIT, data_uri)
    code, out, err = cli(
        "run-local", "training", "--output", "json", "--params", str(PARAMS),
        "-p", f"data_uri={data_uri}", "-p", f"model_name={name}",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["model"]["aliases"] == ["challenger", "champion"]

    prefix = unique_prefix("loop")
    server = Process(
        "serve", f"models:/{name}@champion", "--log-flush-seconds", "0.5",
        env={"KFP_MLOPS_PREDICTION_LOG_URI": prefix},
    )  # fmt: skip
    try:
        traffic = _shifted(pd.read_csv(GERMAN_CREDIT))
        for start in range(0, len(traffic), 100):
            rows = _records(traffic.iloc[start : start + 100])
            status, body = post(f"{server.base}/v1/models/{name}:predict", {"instances": rows})
            assert status == 200, body
            assert len(body["predictions"]) == len(rows)
    finally:
        stopped, server_err = server.stop()
    assert stopped == 0, server_err
    logged = read_log(prefix)
    assert sum(len(part) for part in logged.values()) == len(traffic)
    assert all("/date=" in key for key in logged)

    code, out, err = cli(
        "run-local", "monitoring", "--output", "json",
        "-p", f"current_uri={prefix}{name}/", "-p", "current_last_days=2",
        "-p", f"retrain_data_uri={data_uri}", "-p", f"model_name={name}",
    )  # fmt: skip
    summary = json.loads(out)
    assert code == 0, summary["error"]
    assert summary["drifted"] is True and summary["retrained"] is True
    current = summary["current"]
    assert current["uri"] == f"{prefix}{name}/" and current["rows"] == len(traffic)
    assert current["date_window"].count("..") == 1
    drift = summary["gates"]["drift"]
    # The champion's inputs only: not the snapshot's target, not the log's ids or outputs.
    assert drift["metrics"]["columns_compared"] == len(traffic.columns)
    assert {"credit_amount", "duration", "age"} <= set(drift["report"]["columns_drifted"])
    assert drift["prediction_drifted"] is not None
    assert summary["model"]["name"] == name and summary["model"]["version"] == 2
