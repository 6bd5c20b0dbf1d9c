"""The rollout path end to end: retrained challenger → shadow → compare-live → approve → canary.

Against the real stack (SeaweedFS, MLflow), a real `kfp-mlops serve` process with a shadow,
a real Prometheus holding the canary's series, and the fake Kubernetes API server for the
deploy steps (the one fake: no cluster runs here). Every step goes through the commands a
user runs (`run-local`, `approve`, `promote`, `history`), and every step is checked where a
person would look for it: the InferenceService, the audit trail and the notifications.
"""

import io
import json
import time
import uuid

import pandas as pd
import pytest

from components._shared.io import s3_client
from components._shared.logformat import segment
from components.deploy_model import render
from components.deploy_model.prometheus import PROMETHEUS_URL_ENV
from tests.conftest import GERMAN_CREDIT, free_port
from tests.fake_kube_server import FakeKube
from tests.real_prometheus import Canary, RealPrometheus
from tests.serving import Process, get, metric, post
from tests.test_register_model import FEATURES, artifacts, run
from tests.webhook_receiver import WebhookReceiver

NS, SERVICE, BUCKET = "kubeflow", "rollout", "kfp-mlops-data"
REQUESTS = 300


@pytest.fixture(scope="module")
def world(stack, tmp_path_factory):
    """A fake cluster, a Prometheus with v2's canary traffic, a webhook, a model v1 + v2."""
    patch = pytest.MonkeyPatch()
    cluster = FakeKube(delay_s=0.2).start()
    canary = Canary(NS, SERVICE, 2, ok_per_step=40, errors_per_step=0, latency_s=0.008)
    prometheus = RealPrometheus(tmp_path_factory.mktemp("prometheus"), free_port(), [canary])
    receiver = WebhookReceiver()
    prefix = f"s3://{BUCKET}/rollout-{uuid.uuid4().hex[:8]}/"
    patch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    patch.setenv("KUBECONFIG", cluster.kubeconfig(tmp_path_factory.mktemp("kube") / "c", NS))
    patch.setenv(PROMETHEUS_URL_ENV, prometheus.start().url)
    patch.setenv("KFP_MLOPS_WEBHOOK_URL", receiver.url())
    patch.setenv("KFP_MLOPS_PREDICTION_LOG_URI", prefix)
    patch.setenv("KFP_MLOPS_USER", "ana")  # the person who approves
    credit = pd.read_csv(GERMAN_CREDIT)
    folder = tmp_path_factory.mktemp("registered")
    name = f"rollout-{uuid.uuid4().hex[:6]}"
    run(folder, artifacts(folder, credit.head(300), model_name=name))  # v1: champion
    # v2: the retrain's challenger, trained on more (served) rows; promote=false: it waits for
    # the rollout.
    run(folder, artifacts(folder, credit.head(600), seed=1, model_name=name, promote=False))
    yield {
        "name": name, "cluster": cluster, "receiver": receiver, "prefix": prefix,
        "traffic": credit.iloc[300 : 300 + REQUESTS].reset_index(drop=True),
    }  # fmt: skip
    patch.undo()
    receiver.close()
    prometheus.stop()
    cluster.stop()


def _deploy(cli, name: str, *params: str) -> dict:
    args = ["run-local", "deploy", "-p", f"model_name={name}", "-p", f"service_name={SERVICE}"]
    args += ["-p", "prediction_log=builtin"]  # the server logs both answers itself
    for param in params:
        args += ["-p", param]
    code, out, err = cli(*args, "--output", "json")
    summary = json.loads(out)
    assert code == 0 and summary["status"] == "succeeded", (summary.get("error"), err[-2000:])
    return summary


def _serve_as_the_pod_does(world, args: list[str]) -> None:
    """Run the InferenceService's rendered command here and send it a day of traffic."""
    name, traffic = world["name"], world["traffic"]
    at = [i for i, a in enumerate(args) if a in ("--host", "--port")]
    server = Process(*[a for i, a in enumerate(args) if i not in at and i - 1 not in at])
    try:
        url = f"{server.base}/v1/models/{name}:predict"
        for i, row in enumerate(traffic[FEATURES].to_dict("records")):
            status, answer = post(url, {"instances": [row]}, {"x-request-id": f"req-{i}"})
            assert status == 200 and answer["model_version"] == "1"  # the champion answers
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = get(f"{server.base}/metrics")[1]
            shadowed = metric(
                text, "kfp_mlops_shadow_requests_total", model=name, outcome="predicted"
            )
            if shadowed >= REQUESTS:
                break
            time.sleep(0.2)
        assert shadowed == REQUESTS
    finally:
        code, err = server.stop()
    assert code == 0, err


def _labels_arrive(world) -> str:
    """The annotators' labels for the day's requests, as a CSV under a labels prefix."""
    labels = pd.DataFrame(
        {"request_id": [f"req-{i}" for i in range(REQUESTS)], "label": world["traffic"]["risk"]}
    )
    body = labels.to_csv(index=False).encode()
    key = f"{world['prefix'].split('/', 3)[3]}labels/day-1.csv"
    s3_client().put_object(BUCKET, key, io.BytesIO(body), len(body))
    return f"s3://{BUCKET}/{key.rsplit('/', 1)[0]}/"


def test_a_retrained_challenger_is_shadowed_compared_approved_canaried_and_promoted(cli, world):
    name, cluster = world["name"], world["cluster"]
    # 0. The champion serves: approved by a person, deployed with all traffic.
    code, out, _ = cli("approve", name, "1", "--reason", "first model, offline gates passed")
    assert code == 0 and "no live comparison on record for v1" in out
    _deploy(cli, name, "model_version=1", "canary_traffic_percent=0")

    # 1. Shadow: the challenger is added beside it; no approval needed, no alias moves.
    unapproved = cli("promote", name, "2", "--alias", "production", "--reason", "too soon")
    assert unapproved[0] != 0 and f"kfp-mlops approve {name} 2" in unapproved[2]
    summary = _deploy(cli, name, "model_version=production", "shadow_version=challenger")
    assert summary["gates"]["deploy"]["passed"] is True
    args = cluster.objects[(NS, SERVICE)]["spec"]["predictor"]["containers"][0]["args"]
    assert args[:2] == ["serve", f"models:/{name}/1"]
    assert args[args.index("--shadow") + 1] == f"models:/{name}/2"
    _serve_as_the_pod_does(world, args)

    # 2. Compare on live data: the shadow's answers against the champion's, with labels.
    code, out, err = cli(
        "run-local", "compare-live", "-p", f"model_name={name}",
        "-p", f"predictions_uri={world['prefix']}{segment(name)}/",
        "-p", f"labels_uri={_labels_arrive(world)}", "-p", "last_days=1",
        "-p", f"min_requests={REQUESTS - 50}", "-p", f"min_labelled_rows={REQUESTS - 50}",
        "-p", "max_metric_drop=0.15", "-p", "max_fairness_gap=0.5", "--output", "json",
    )  # fmt: skip
    compared = json.loads(out)
    assert code == 0 and compared["status"] == "succeeded", (compared.get("error"), err[-2000:])
    gate = compared["gates"]["live_comparison"]
    assert gate["passed"] is True, gate
    report = gate["report"]
    assert report["counts"]["paired_rows"] == report["counts"]["labelled_rows"] == REQUESTS
    assert 0.5 < report["agreement"] < 1  # another model: it disagrees on some rows
    assert report["challenger_version"] == "2" and report["champion_version"] == "1"

    # 3. Consent, with the comparison as its evidence.
    code, out, _ = cli("approve", name, "2", "--reason", "shadowed a day; compare-live passed")
    assert code == 0 and "live comparison on record: passed" in out

    # 4. Canary: 10 % to v2, judged on Prometheus, then all traffic and `production` moves.
    summary = _deploy(
        cli, name, "model_version=2", "canary_traffic_percent=10", "canary_observe_s=0",
        "canary_window_s=3600", "min_canary_requests=20",
    )  # fmt: skip
    assert summary["blessed"] is True and summary["model"]["promoted"] is True
    predictor = cluster.objects[(NS, SERVICE)]["spec"]["predictor"]
    assert predictor["labels"][render.MODEL_VERSION_KEY] == "2"
    assert "--shadow" not in predictor["containers"][0]["args"]  # the shadow's work is done

    # 5. The champion follows production, on the record.
    code, out, _ = cli(
        "promote", name, "2", "--alias", "champion", "--reason", "serves production",
        "--expect-from", "1",
    )  # fmt: skip
    assert code == 0, out

    # Every step is on the record, in order, with who did it.
    code, out, _ = cli("history", name, "--output", "json")
    steps = [
        (e["action"], e["alias"] if e["action"] == "move" else None, e["version"], e["who"])
        for e in json.loads(out)
    ]
    mine = [(a, alias, v) for a, alias, v, who in steps if who == "ana"]
    assert mine == [
        ("approve", None, 1), ("approve", None, 2), ("move", "champion", 2)
    ]  # fmt: skip
    production = [(v, e) for a, alias, v, e in steps if alias == "production"]
    assert [v for v, _ in production] == [1, 1, 2]  # deployed, kept for the shadow, promoted
    history = json.loads(out)
    shadow_record = next(e for e in history if e["why"].startswith("v2 shadows v1"))
    approval = next(e for e in history if e["action"] == "approve" and e["version"] == 2)
    promoted = next(e for e in history if e["alias"] == "production" and e["version"] == 2)
    assert shadow_record["time"] < approval["time"] < promoted["time"]

    # And in the notifications, one per run and one per person's action.
    texts = [r["body"].get("text", "") for r in world["receiver"].requests]
    assert any(f"approve {name} v2 by ana" in t for t in texts), texts
    assert any(f"promote {name} v2 by ana" in t for t in texts), texts
    assert any(t.startswith(f"✅ compare-live ({name}): succeeded, blessed") for t in texts)
    assert sum(t.startswith(f"✅ deploy ({name})") for t in texts) == 3, texts
