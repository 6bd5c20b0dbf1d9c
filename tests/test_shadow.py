"""`kfp-mlops serve --shadow`: a real server with a challenger predicting off the request path."""

import hashlib
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from components._shared.model_io import save_model
from tests.conftest import GERMAN_CREDIT
from tests.serving import ROWS, Process, get, metric, post, read_log, register, unique_prefix
from tests.test_register_model import FEATURES, artifacts, run

UNKNOWN = {**ROWS[0], "housing": "castle"}  # a category the strict shadow refuses


def strict(credit: pd.DataFrame):
    """A challenger that raises on a category it never saw (OneHotEncoder handle_unknown=error)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    numbers = [f for f in FEATURES if f not in ("sex", "housing")]
    prep = ColumnTransformer(
        [
            ("text", OneHotEncoder(handle_unknown="error"), ["sex", "housing"]),
            ("numbers", SimpleImputer(strategy="median"), numbers),
        ]
    )
    clf = HistGradientBoostingClassifier(max_iter=5, random_state=1)
    return Pipeline([("prep", prep), ("clf", clf)]).fit(credit[FEATURES], credit["risk"])


def fewer_columns(credit: pd.DataFrame):
    """A challenger trained without `age`: another input schema."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    numbers = ["credit_amount", "duration"]
    clf = HistGradientBoostingClassifier(max_iter=5, random_state=1)
    return Pipeline([("clf", clf)]).fit(credit[numbers], credit["risk"])


def register_version(tmp_path, credit, name: str, fitted, columns: list[str]) -> int:
    """Register `fitted` as the next version of `name` (not promoted); returns its version."""
    inputs = artifacts(tmp_path, credit, model_name=name, promote=False)
    model = inputs["model"]
    trusted = save_model(fitted, model.path)
    model.metadata.update(
        skops_trusted_types=trusted,
        feature_columns=columns,
        sha256=hashlib.sha256(Path(model.path).read_bytes()).hexdigest(),
    )
    if columns != FEATURES:
        frame = credit[[*columns, "risk"]]
        from components._shared.io import write_parquet

        write_parquet(frame, inputs["dataset"].path)
    return int(run(tmp_path, inputs)["meta"]["version"])


@pytest.fixture(scope="module")
def models(stack, tmp_path_factory) -> dict:
    credit = pd.read_csv(GERMAN_CREDIT).head(300)
    folder = tmp_path_factory.mktemp("shadow")
    name = register(folder, credit, f"shadowed-{uuid.uuid4().hex[:6]}")  # v1, champion
    challenger = register_version(folder, credit, name, strict(credit), FEATURES)
    other = register_version(folder, credit, name, fewer_columns(credit), FEATURES[2:4])
    return {"name": name, "challenger": challenger, "other": other}


def test_shadow_logs_both_answers_counts_failures_and_never_changes_the_answer(models):
    name, challenger = models["name"], models["challenger"]
    prefix = unique_prefix("shadow")
    server = Process(
        "serve", f"models:/{name}/1", "--shadow", f"models:/{name}/{challenger}",
        "--log-flush-seconds", "600", env={"KFP_MLOPS_PREDICTION_LOG_URI": prefix},
    )  # fmt: skip
    try:
        url = f"{server.base}/v1/models/{name}:predict"
        answers = [post(url, {"instances": ROWS}, {"x-request-id": f"ok-{i}"}) for i in range(5)]
        assert {s for s, _ in answers} == {200}
        # Answers come from the primary alone: its version, whatever the shadow does.
        assert {a["model_version"] for _, a in answers} == {"1"}
        status, bad = post(url, {"instances": [UNKNOWN]}, {"x-request-id": "castle"})
        assert status == 200 and bad["model_version"] == "1"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = get(f"{server.base}/metrics")[1]
            done = metric(text, "kfp_mlops_shadow_requests_total", model=name, outcome="predicted")
            failed = metric(text, "kfp_mlops_shadow_requests_total", model=name, outcome="failed")
            if done + failed >= 6:
                break
            time.sleep(0.2)
        assert (done, failed) == (5, 1)
        assert metric(text, "kfp_mlops_shadow_requests_total", model=name, outcome="dropped") == 0
        code, err = server.stop()
    finally:
        server.stop()
    assert code == 0, err
    assert "shadow models:/" in err and "castle" in err  # the failure is a warning, named
    frame = pd.concat(read_log(prefix).values(), ignore_index=True)
    primary = frame[frame["endpoint"] == "primary"]
    shadow = frame[frame["endpoint"] == "shadow"]
    assert len(primary) == 11 and set(primary["model_version"]) == {"1"}
    assert len(shadow) == 10 and set(shadow["model_version"]) == {str(challenger)}
    assert "castle" not in set(shadow["request_id"])  # the failed request has no shadow row
    # Same request ids and row order as the primary's rows of that request.
    for rid in (f"ok-{i}" for i in range(5)):
        mine = primary[primary["request_id"] == rid]
        theirs = shadow[shadow["request_id"] == rid]
        assert theirs["credit_amount"].tolist() == mine["credit_amount"].tolist()
        assert (theirs["time"].iloc[0] >= mine["time"].iloc[0]) and theirs["time"].nunique() == 1


def test_a_full_shadow_queue_drops_and_counts_and_the_answer_stands(models):
    name, challenger = models["name"], models["challenger"]
    server = Process(
        "serve", f"models:/{name}/1", "--shadow", f"models:/{name}/{challenger}",
        "--shadow-queue-rows", "1", "--no-log",
    )  # fmt: skip
    try:
        status, answer = post(f"{server.base}/v1/models/{name}:predict", {"instances": ROWS})
        assert status == 200 and len(answer["predictions"]) == 2
        text = get(f"{server.base}/metrics")[1]
        assert metric(text, "kfp_mlops_shadow_requests_total", model=name, outcome="dropped") == 1
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("which", "extra", "said"),
    [
        ("other", (), r"input schema differs from the primary's.*age: integer vs absent"),
        ("missing", (), r"--shadow models:/.*/99 cannot be loaded"),
        ("challenger", ("--shadow-sha256", "0" * 64), r"cannot be loaded.*pinned to 0{64}"),
    ],
)
def test_a_shadow_that_cannot_be_served_refuses_to_start(models, which, extra, said):
    import re
    import subprocess

    from tests.serving import command

    version = 99 if which == "missing" else models[which]
    name = models["name"]
    done = subprocess.run(
        command("serve", f"models:/{name}/1", "--shadow", f"models:/{name}/{version}",
                *extra, "--no-log", "--port", "1"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert re.search(said, done.stderr, re.S), done.stderr
    assert "serving models:/" not in done.stderr


@pytest.mark.parametrize("log", ["builtin", "kserve-logger"])
def test_the_inference_service_renders_the_pinned_shadow_and_its_log(log):
    from components.deploy_model import render
    from tests.kserve_schema import problems
    from tests.test_deploy_render import RESOURCES

    target = render.Target(
        service="credit", namespace="kubeflow", model_name="credit", version=3,
        sha256="ab" * 32, image="kfp-mlops:1", service_account="sa",
        deployment_mode=render.SERVERLESS, prediction_log=log,
        log_sink_url="http://kfp-mlops-log-sink/", resources=RESOURCES,
        shadow_version=4, shadow_sha256="cd" * 32,
    )  # fmt: skip
    service = render.direct(target)
    assert problems(service) == []
    args = service["spec"]["predictor"]["containers"][0]["args"]
    assert args[:2] == ["serve", "models:/credit/3"]  # the primary answers
    at = args.index("--shadow")
    assert args[at : at + 4] == ["--shadow", "models:/credit/4", "--shadow-sha256", "cd" * 32]
    sink = ["--shadow-log-url", "http://kfp-mlops-log-sink/"]
    assert (args[-2:] == sink) == (log == "kserve-logger")


def test_the_sink_logs_ce_endpoint_shadow_as_shadow_joined_apart_from_the_primary():
    from datetime import UTC, datetime

    from kfp_mlops.serve.metrics import Metrics
    from kfp_mlops.serve.payloads import input_columns, output_columns
    from kfp_mlops.serve.sink import Half, Sink, endpoint_of

    assert [endpoint_of(v) for v in ("shadow", "Shadow", "default", "canary", None)] == [
        "shadow", "shadow", "primary", "primary", "primary",
    ]  # fmt: skip

    class Kept:  # the PredictionLog's submit, recorded
        def __init__(self):
            self.tables = []

        def submit(self, model, when, rows, built, nbytes=0):
            self.tables.append(built)

    kept = Kept()
    sink = Sink(kept, Metrics())
    now = datetime.now(UTC)
    request = input_columns({"instances": [{"age": 30}]})
    for endpoint, version in (("primary", "1"), ("shadow", "2")):
        body = {"predictions": [1], "model_name": "m", "model_version": version}
        sink.accept("same-id", Half("request", request, {}, "", now, None, 0.0, 0, endpoint))
        answer = Half("response", output_columns(body), body, "", now, None, 0.0, 0, endpoint)
        assert sink.accept("same-id", answer)  # each endpoint's pair joins on its own
    logged = [t.to_pylist()[0] for t in kept.tables]
    assert [(r["endpoint"], r["model_version"]) for r in logged] == [
        ("primary", "1"),
        ("shadow", "2"),
    ]
