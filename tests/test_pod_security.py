"""Pod Security "restricted" for every pod we ship or render, judged by checkov's checks.

manifests/podsecurity.py (run by make manifests-check) hands the built workloads and the pods
KServe makes of the rendered predictors to checkov; these tests show every one passes, that
the same analyzer refuses a pod breaking a control (so the check can fail), that the overlays
keep the scrape annotations, and that the server and the sink run on a read-only root.
"""

import copy
import importlib.util
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import kubernetes_validate
import pandas as pd
import pytest

from components.deploy_model import render
from tests.conftest import GERMAN_CREDIT, free_port
from tests.serving import ROWS, command, get, post, register

REPO = Path(__file__).resolve().parent.parent
STORES = {("StatefulSet", "minio"), ("Job", "minio-buckets"), ("Deployment", "mlflow")}
SINK = ("Deployment", "kfp-mlops-log-sink")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


podsecurity = _load("manifests_podsecurity", REPO / "manifests" / "podsecurity.py")
check = podsecurity.check


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict]]:
    return check.build_all()


@pytest.fixture(scope="module")
def pods(built) -> dict[str, dict]:
    return podsecurity.shipped_pods(built) | podsecurity.rendered_pods()


def _find(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def test_every_shipped_workload_and_rendered_predictor_passes_restricted(pods):
    shipped = {key for key in pods if not key.startswith("rendered/")}
    for target in ("base", "overlays/standalone", "overlays/kubeflow-profile"):
        assert {f"{target}/{kind}/{name}" for kind, name in STORES | {SINK}} <= shipped
    rendered = {key for key in pods if key.startswith("rendered/")}
    assert len(rendered) == len(render.MODES) * len(render.LOG_MODES) == 9
    found = podsecurity.problems(pods)
    assert {key: lines for key, lines in found.items() if lines} == {}
    assert set(found) == set(pods)


def _rendered(mode=render.RAW, log=render.KSERVE_LOGGER) -> dict:
    return podsecurity.rendered_pods()[f"rendered/predictor-{mode.lower()}-{log}"]


def _failed(found: list[str]) -> set[str]:
    return {line.split()[0] for line in found}


def test_the_analyzer_refuses_missing_seccomp_escalation_root_and_kept_capabilities(built):
    good = _rendered(log=render.NO_LOG)
    bad = {}
    bad["no-seccomp"] = copy.deepcopy(good)
    del bad["no-seccomp"]["spec"]["securityContext"]["seccompProfile"]
    bad["unconfined"] = copy.deepcopy(good)
    bad["unconfined"]["spec"]["securityContext"]["seccompProfile"]["type"] = "Unconfined"
    bad["escalation"] = copy.deepcopy(good)
    bad["escalation"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    bad["root"] = copy.deepcopy(good)
    bad["root"]["spec"]["securityContext"] = {
        "runAsUser": 0,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    del bad["root"]["spec"]["containers"][0]["securityContext"]["runAsNonRoot"]
    bad["capabilities"] = copy.deepcopy(good)
    bad["capabilities"]["spec"]["containers"][0]["securityContext"]["capabilities"] = {
        "add": ["NET_ADMIN"]
    }
    bad["writable-root"] = copy.deepcopy(good)
    del bad["writable-root"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"]
    # The same on a shipped workload (checkov reads a pod template there, not a pod).
    minio = copy.deepcopy(_find(built["base"], "StatefulSet", "minio"))
    del minio["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]
    minio["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "allowPrivilegeEscalation"
    ] = True
    bad["minio"] = minio

    found = podsecurity.problems({"good": good, **bad})
    assert found["good"] == []
    assert _failed(found["no-seccomp"]) == {"CKV_K8S_31"}
    assert _failed(found["unconfined"]) == {"CKV_K8S_31"}
    assert _failed(found["escalation"]) == {"CKV_K8S_20"}
    assert _failed(found["root"]) == {"CKV_K8S_23"}
    assert _failed(found["capabilities"]) == {"CKV_K8S_25", "CKV_K8S_28", "CKV_K8S_37"}
    assert _failed(found["writable-root"]) == {"CKV_K8S_22"}
    assert _failed(found["minio"]) == {"CKV_K8S_20", "CKV_K8S_31"}
    assert "CKV_K8S_31 FAILED: baseline/restricted: seccomp" in found["no-seccomp"][0]


def test_a_check_that_did_not_run_on_a_pod_is_a_failure_not_a_pass():
    found = podsecurity.problems({"empty": {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "empty", "namespace": "x"}}})  # fmt: skip
    assert any(line.startswith("CKV_K8S_20 NOT RUN") for line in found["empty"])


def test_the_pod_of_a_logging_predictor_is_what_kserve_makes():
    pod = _rendered(mode=render.SERVERLESS, log=render.KSERVE_LOGGER)
    # ComponentExtensionSpec fields stay out of the pod; its labels and annotations go on it.
    for field in ("minReplicas", "logger", "labels", "annotations"):
        assert field not in pod["spec"]
    assert pod["metadata"]["labels"][render.MODEL_VERSION_KEY] == "1"
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    # KServe's agent sidecar copies the first container's securityContext.
    server, agent = pod["spec"]["containers"]
    assert (server["name"], agent["name"]) == (render.CONTAINER, podsecurity.KSERVE_AGENT)
    assert agent["securityContext"] == server["securityContext"]
    for version in check.K8S_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
    quiet = _rendered(mode=render.SERVERLESS, log=render.NO_LOG)
    assert [c["name"] for c in quiet["spec"]["containers"]] == [render.CONTAINER]


def test_a_predictor_field_neither_podspec_nor_kserve_is_refused_by_name():
    spec = render.predictor(
        render.Target(
            service="m", namespace="n", model_name="m", version=1, sha256="0" * 64,
            image="i:1", service_account="s", deployment_mode=render.RAW,
            prediction_log=render.NO_LOG, log_sink_url="", resources={},
        )
    )  # fmt: skip
    spec["hostUsers"] = False  # a PodSpec field: fine
    podsecurity.kserve_pod(spec, "ok")
    spec["podSecurity"] = {}
    with pytest.raises(podsecurity.PodSecurityError, match=r"\['podSecurity'\].*KSERVE_EXTENSION"):
        podsecurity.kserve_pod(spec, "typo")


def test_without_checkov_the_check_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(podsecurity, "CHECKOV", tmp_path / "checkov")
    with pytest.raises(podsecurity.PodSecurityError, match="make checkov"):
        podsecurity.problems({"good": _rendered()})


def test_every_overlay_keeps_the_sinks_scrape_annotations(built):
    base = _find(built["base"], *SINK)["spec"]["template"]
    scrape = {
        k: v for k, v in base["metadata"]["annotations"].items() if k.startswith("prometheus")
    }
    assert scrape["prometheus.io/scrape"] == "true" and scrape["prometheus.io/path"] == "/metrics"
    ports = {p["containerPort"] for p in base["spec"]["containers"][0]["ports"]}
    assert int(scrape["prometheus.io/port"]) in ports
    for target in ("overlays/standalone", "overlays/kubeflow-profile"):
        template = _find(built[target], *SINK)["spec"]["template"]
        assert scrape.items() <= template["metadata"]["annotations"].items(), target
    # The profile overlay turns the sidecar off on the stores by adding, not replacing.
    for kind, name in STORES:
        template = _find(built["overlays/kubeflow-profile"], kind, name)["spec"]["template"]
        assert template["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"


def test_every_read_only_container_has_home_and_tmp_on_an_emptydir(pods):
    for key, obj in pods.items():
        spec = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
        empty = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for container in spec["containers"]:
            if container["name"] == podsecurity.KSERVE_AGENT:
                continue  # KServe's image: its HOME and writes are KServe's
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, key
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in empty, f"{key}: no emptyDir at /tmp"
            home = {e["name"]: e.get("value") for e in container.get("env", [])}.get("HOME")
            if container["image"].startswith(("ghcr.io/kfp-mlops/", "quay.io/minio/")):
                assert home == "/tmp", f"{key}: HOME {home!r} is on the read-only root"


def test_the_images_run_as_a_numeric_non_root_user():
    """runAsNonRoot admits an image only when its USER is numeric (the kubelet checks the uid)."""
    stages, stage = {}, None
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if m := re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE):
            stage = m.group(1)
        elif m := re.match(r"USER\s+(\S+)", line):
            stages[stage] = m.group(1)
    for target in ("components", "mlflow-server"):
        uid, _, gid = stages[target].partition(":")
        assert uid.isdigit() and int(uid) > 0, f"{target}: USER {stages[target]}"
        assert not gid or gid.isdigit(), f"{target}: USER {stages[target]}"


# -- a read-only root filesystem, for real --------------------------------------------------

# A private mount namespace where / (and so the repository and the venv) is read-only and /tmp
# a fresh tmpfs: the filesystem the Deployments and the rendered predictor give the process.
READ_ONLY_ROOT = (
    "mount --make-rprivate / && mount --bind / / && mount -o remount,bind,ro / && "
    'mount -t tmpfs -o size=256m tmpfs /tmp && exec "$@"'
)


def _read_only_process(args: list[str], port: int, ready: str) -> subprocess.Popen:
    env = {**os.environ, "HOME": "/tmp", "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(
        ["unshare", "--mount", "--", "sh", "-c", READ_ONLY_ROOT, "sh", *command(*args)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"exited {proc.returncode} on a read-only root: {proc.stderr.read()}"
            )
        try:
            if get(f"http://127.0.0.1:{port}{ready}")[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"not ready on a read-only root: {proc.communicate()[1]}")


def _stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        return proc.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[1]


def _local(args: list[str], port: int) -> list[str]:
    """A container's args with the listen address moved to 127.0.0.1 and a free port."""
    out = list(args)
    out[out.index("--host") + 1] = "127.0.0.1"
    out[out.index("--port") + 1] = str(port)
    return out


def test_the_server_and_the_sink_work_on_a_read_only_root_filesystem(stack, tmp_path, built):
    done = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True)
    assert done.returncode == 0, (
        f"unshare --mount failed ({done.stderr.strip()}): this test needs root (as CI runs) "
        "to give the server a read-only root filesystem"
    )
    credit = pd.read_csv(GERMAN_CREDIT).head(200)
    name = register(tmp_path, credit, f"readonly-{uuid.uuid4().hex[:6]}")
    # The rendered predictor's own arguments (payload-logger mode: no log of its own).
    target = render.Target(
        service="m", namespace="n", model_name=name, version=1, sha256="0" * 64, image="i:1",
        service_account="s", deployment_mode=render.RAW, prediction_log=render.KSERVE_LOGGER,
        log_sink_url="http://sink/", resources={},
    )  # fmt: skip
    container = render.predictor(target)["containers"][0]
    port = free_port()
    server = _read_only_process(_local(container["args"], port), port, "/v2/health/ready")
    try:
        status, body = post(f"http://127.0.0.1:{port}/v1/models/{name}:predict",
                            {"instances": ROWS})  # fmt: skip
        assert status == 200 and len(body["predictions"]) == len(ROWS), body
    finally:
        err = _stop(server)
    assert "Read-only file system" not in err, err

    sink = _find(built["base"], *SINK)["spec"]["template"]["spec"]["containers"][0]
    args = _local(sink["command"][1:] + sink["args"], port := free_port())
    args[args.index("--metrics-port") + 1] = str(free_port())
    proc = _read_only_process(args, port, "/healthz")
    err = _stop(proc)
    assert "Read-only file system" not in err, err
