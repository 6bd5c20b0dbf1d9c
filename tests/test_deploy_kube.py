"""The Kubernetes module with the real `kubernetes` client against the fake API server."""

import json
import urllib.request

import pytest

from components._shared.errors import ConfigError
from components.deploy_model import render
from components.deploy_model.kube import (
    DEPLOY_ROLE,
    FIELD_MANAGER,
    Cluster,
    KubeError,
    KubeForbiddenError,
    readiness,
    replacing,
)
from tests.fake_kube_server import TOKEN, FakeKube
from tests.test_deploy_render import target

NAMESPACE = "kubeflow"


@pytest.fixture(scope="module")
def fake():
    server = FakeKube(delay_s=0.2).start()
    yield server
    server.stop()


@pytest.fixture
def cluster(fake, tmp_path, monkeypatch):
    """A Cluster on the fake; the controller is back to `ready` and RBAC to allow-all."""
    fake.controller, fake.forbid = "ready", set()
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", fake.kubeconfig(tmp_path / "kubeconfig", NAMESPACE))
    return Cluster(NAMESPACE)


def named(name: str, version: int = 1, mode: str = render.SERVERLESS) -> dict:
    body = render.direct(target(mode, version=version))
    body["metadata"]["name"] = name
    return body


def test_apply_creates_then_patches_with_field_manager_and_strict_validation(fake, cluster):
    obj, created = cluster.apply(named("create-patch"))
    assert created and obj["metadata"]["generation"] == 1
    again, created = cluster.apply(named("create-patch"))
    assert not created and again["metadata"]["generation"] == 1  # same spec: same generation
    changed, _ = cluster.apply(named("create-patch", version=2))
    assert changed["metadata"]["generation"] == 2
    assert int(changed["metadata"]["resourceVersion"]) > int(again["metadata"]["resourceVersion"])
    writes = [
        r for r in fake.requests if r[0] in ("POST", "PATCH") and "create-patch" in r[1] + str(r)
    ]
    assert {r[3] for r in writes if r[0] == "PATCH"} == {"application/merge-patch+json"}
    assert all(r[2]["fieldManager"] == FIELD_MANAGER for r in writes)
    assert all(r[2]["fieldValidation"] == "Strict" for r in writes)
    managers = {m["manager"] for m in changed["metadata"]["managedFields"]}
    assert managers == {FIELD_MANAGER}


def test_wait_ready_ignores_the_previous_generations_ready(cluster):
    cluster.apply(named("generations"))
    first = cluster.wait_ready("generations", 30)
    assert first["status"]["observedGeneration"] == 1
    patched = cluster.patch("generations", {"spec": {"predictor": {"minReplicas": 2}}})
    # Ready=True is still there, but for generation 1: not ready yet.
    assert patched["status"]["conditions"][0]["status"] == "True"
    assert not readiness(patched).ready
    ready = cluster.wait_ready("generations", 30)
    assert ready["status"]["observedGeneration"] == ready["metadata"]["generation"] == 2


def test_metadata_only_patch_keeps_the_generation_and_status_in_a_patch_is_ignored(cluster):
    cluster.apply(named("meta-only"))
    cluster.wait_ready("meta-only", 30)
    patch = {"metadata": {"annotations": {"note": "x"}}, "status": {"observedGeneration": 99}}
    obj = cluster.patch("meta-only", patch)
    assert obj["metadata"]["generation"] == 1
    assert obj["status"]["observedGeneration"] == 1


def test_never_ready_fails_clearly_naming_the_service_conditions_and_way_out(fake, cluster):
    fake.controller = "never"
    cluster.apply(named("never-ready"))
    with pytest.raises(KubeError) as failure:
        cluster.wait_ready("never-ready", 2)
    message = str(failure.value)
    assert "InferenceService kubeflow/never-ready (generation 1) was not Ready after 2 s" in message
    assert "Ready=False (RevisionFailed" in message and "CrashLoopBackOff" in message
    assert "kubectl describe inferenceservice never-ready -n kubeflow" in message
    assert "ready_timeout_s" in message


@pytest.mark.parametrize("verb", ["get", "create", "patch", "watch"])
def test_rbac_refusal_names_the_role_to_apply(fake, cluster, verb):
    name = f"rbac-{verb}"
    if verb in ("patch", "watch"):
        cluster.apply(named(name))
    fake.forbid = {verb}
    with pytest.raises(KubeForbiddenError) as refused:
        if verb == "watch":
            fake.controller = "never"
            cluster.apply(named(name, version=2))
            cluster.wait_ready(name, 5)
        else:
            cluster.apply(named(name, version=3))
    message = str(refused.value)
    assert f'cannot {verb} resource "inferenceservices"' in message
    assert f"apply the Role {DEPLOY_ROLE} and its RoleBinding" in message


def test_unknown_field_is_refused_by_strict_validation(cluster):
    body = named("unknown-field")
    body["spec"]["predictor"]["minReplica"] = 1
    with pytest.raises(
        ConfigError, match=r'strict decoding error: unknown field "spec\.predictor\.minReplica"'
    ):
        cluster.apply(body)


def test_invalid_value_is_a_422_naming_the_field(fake, cluster):
    body = named("invalid-value")
    body["spec"]["predictor"]["minReplicas"] = "one"
    with pytest.raises(
        ConfigError, match=r"is invalid: spec\.predictor\.minReplicas: Invalid value"
    ):
        cluster.apply(body)
    status = json.loads(_raw(fake, "POST", body).decode())
    assert status["kind"] == "Status" and status["code"] == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "spec.predictor.minReplicas"


def _raw(fake, method: str, body: dict) -> bytes:
    url = f"{fake.url}/apis/serving.kserve.io/v1beta1/namespaces/{NAMESPACE}/inferenceservices"
    request = urllib.request.Request(
        url, json.dumps(body).encode(), method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.read()
    except urllib.error.HTTPError as exc:
        return exc.read()


def test_watch_streams_newline_delimited_events_from_a_resource_version(fake, cluster):
    created, _ = cluster.apply(named("watched"))
    since = created["metadata"]["resourceVersion"]
    cluster.wait_ready("watched", 30)
    url = (
        f"{fake.url}/apis/serving.kserve.io/v1beta1/namespaces/{NAMESPACE}/inferenceservices"
        f"?watch=true&fieldSelector=metadata.name%3Dwatched&resourceVersion={since}&timeoutSeconds=1"
    )
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request) as answer:
        events = [json.loads(line) for line in answer.read().splitlines()]
    assert [e["type"] for e in events] == ["MODIFIED"]  # the controller's status write
    assert events[0]["object"]["status"]["observedGeneration"] == 1


def test_no_cluster_configured_says_how_to_configure_one(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeError, match=r"no Kubernetes cluster is configured.*set KUBECONFIG"):
        Cluster(NAMESPACE)


def test_apply_removes_spec_fields_the_new_body_no_longer_has(cluster):
    canary = named("leftovers")
    canary["spec"]["predictor"]["canaryTrafficPercent"] = 0
    cluster.apply(canary)
    direct = named("leftovers")
    del direct["spec"]["predictor"]["logger"]
    obj, _ = cluster.apply(direct)
    assert "canaryTrafficPercent" not in obj["spec"]["predictor"]
    assert "logger" not in obj["spec"]["predictor"]
    assert obj["spec"] == direct["spec"]


def test_replacing_patch_nulls_what_is_gone_and_keeps_what_is_given():
    current = {"predictor": {"canaryTrafficPercent": 0, "minReplicas": 1}, "canary": [{}]}
    desired = {"predictor": {"minReplicas": 2}}
    assert replacing(current, desired) == {
        "canary": None,
        "predictor": {"canaryTrafficPercent": None, "minReplicas": 2},
    }
