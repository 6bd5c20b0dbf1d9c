"""Mesh authentication: the Istio objects deploy_model renders and manifests/mesh ships.

Checked against strict schemas derived from Istio's CRDs (manifests/mesh_objects.py); the
built overlays come from `kubectl kustomize`, as `make manifests-check` builds them.
"""

import copy
import sys
from pathlib import Path

import pytest

from components._shared.errors import ConfigError
from components.deploy_model import mesh, render
from kfp_mlops.cli.main import main
from kfp_mlops.serve import auth

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "manifests"))
import check
import mesh_objects

MESH_OVERLAY = "overlays/kubeflow-profile"  # the overlay that includes manifests/mesh


@pytest.fixture(scope="module")
def built():
    return check.build_all()


def _target(**changes) -> render.Target:
    fields = dict(
        service="churn", namespace="kubeflow", model_name="churn", version=3, sha256="ab" * 32,
        image="ghcr.io/kfp-mlops/kfp-mlops:0.3.0", service_account="kfp-mlops-predictor",
        deployment_mode=render.SERVERLESS, prediction_log=render.KSERVE_LOGGER,
        log_sink_url="http://kfp-mlops-log-sink/",
        resources={"requests": {"cpu": "250m", "memory": "512Mi"},
                   "limits": {"cpu": "1", "memory": "1Gi"}},
    )  # fmt: skip
    return render.Target(**(fields | changes))


def test_rendered_policies_are_valid_istio_objects_admitting_only_the_named_callers():
    pa, ap = mesh.policies("churn", "kubeflow", ["web", "apps/frontend"])
    assert mesh_objects.problems(pa) == [] and mesh_objects.problems(ap) == []
    assert pa["spec"] == {
        "selector": {"matchLabels": {"serving.kserve.io/inferenceservice": "churn"}},
        "mtls": {"mode": "STRICT"},
        "portLevelMtls": {"8080": {"mode": "PERMISSIVE"}},
    }
    callers, open_routes = ap["spec"]["rules"]
    assert ap["spec"]["action"] == "ALLOW"
    assert callers["from"][0]["source"]["principals"] == [
        "cluster.local/ns/apps/sa/frontend",
        "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
        "cluster.local/ns/knative-serving/sa/controller",
        "cluster.local/ns/kubeflow/sa/web",
    ]
    # The open rule has no `from`: anyone, but only GET of health and metrics.
    assert "from" not in open_routes
    assert open_routes["to"][0]["operation"]["methods"] == ["GET"]


def test_the_open_routes_are_the_ones_the_token_check_leaves_open_too():
    ap = mesh.authorization_policy("churn", "kubeflow", ["web"])
    paths = set(ap["spec"]["rules"][1]["to"][0]["operation"]["paths"])
    assert paths == auth.OPEN_PATHS - {"/healthz"}  # /healthz is the sink's, not the server's


@pytest.mark.parametrize(
    ("callers", "words"),
    [([], "no caller named"), (["Web"], "not a Kubernetes name"), (["a/b/c"], "not a Kubernetes"),
     (["ns/"], "service account '' is not")],
)  # fmt: skip
def test_bad_callers_are_refused_naming_the_way_out(callers, words):
    with pytest.raises(ConfigError, match=words):
        mesh.policies("churn", "kubeflow", callers)


def test_the_schema_refuses_what_an_api_server_with_istios_crd_would():
    _, ap = mesh.policies("churn", "kubeflow", ["web"])
    typo = copy.deepcopy(ap)
    typo["spec"]["rules"][0]["from"][0]["source"]["principal"] = ["x"]
    assert any("principal" in p for p in mesh_objects.problems(typo))
    bad_action = copy.deepcopy(ap) | {"spec": ap["spec"] | {"action": "PERMIT"}}
    assert any("PERMIT" in p for p in mesh_objects.problems(bad_action))
    both = copy.deepcopy(ap)
    both["spec"]["targetRef"] = {"kind": "Service", "name": "churn"}
    assert "spec: only one of targetRefs or selector can be set" in mesh_objects.problems(both)
    port_level = {
        "apiVersion": mesh_objects.API_VERSION,
        "kind": "PeerAuthentication",
        "metadata": {"name": "x"},
        "spec": {"portLevelMtls": {"9090": {"mode": "X"}}},
    }
    found = mesh_objects.problems(port_level)
    assert "spec: portLevelMtls requires selector" in found and any("'X'" in p for p in found)


def test_mesh_policy_command_prints_both_objects(capsys):
    assert main(["mesh-policy", "churn", "-n", "kubeflow", "--caller", "web"]) == 0
    import yaml

    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["PeerAuthentication", "AuthorizationPolicy"]
    assert all(mesh_objects.problems(d) == [] for d in docs)


def test_mesh_policy_command_refuses_a_bad_caller(capsys):
    assert main(["mesh-policy", "churn", "-n", "kubeflow", "--caller", "Web"]) == 2
    assert "NAMESPACE/SERVICE_ACCOUNT" in capsys.readouterr().err


def test_a_token_secret_is_mounted_and_passed_to_the_server():
    from tests import kserve_schema

    target = _target(deployment_mode=render.RAW, auth_token_secret="churn-token")
    isvc = render.direct(target)
    assert kserve_schema.problems(isvc) == []
    predictor = isvc["spec"]["predictor"]
    container = predictor["containers"][0]
    token_file = f"{render.TOKEN_DIR}/{render.TOKEN_KEY}"
    assert container["args"][-2:] == ["--auth-token-file", token_file]
    mount = next(m for m in container["volumeMounts"] if m["name"] == render.TOKEN_VOLUME)
    assert mount == {"name": "auth-token", "mountPath": render.TOKEN_DIR, "readOnly": True}
    volume = next(v for v in predictor["volumes"] if v["name"] == render.TOKEN_VOLUME)
    assert volume["secret"] == {"secretName": "churn-token",
                                "items": [{"key": "token", "path": "token"}]}  # fmt: skip
    # No Secret named: no token argument, no token volume.
    plain = render.direct(_target())["spec"]["predictor"]
    assert "--auth-token-file" not in plain["containers"][0]["args"]
    assert all(v["name"] != render.TOKEN_VOLUME for v in plain.get("volumes", []))


def test_a_bad_token_secret_name_is_refused():
    with pytest.raises(ConfigError, match="auth_token_secret 'Churn_Token' is not a Secret name"):
        render.check_target(_target(auth_token_secret="Churn_Token"), 0)


def _pods_selected(policy: dict, pod_labels: dict) -> bool:
    wanted = policy["spec"]["selector"]["matchLabels"]
    return all(pod_labels.get(k) == v for k, v in wanted.items())


def test_the_mesh_overlay_ships_valid_policies_with_its_namespace(built):
    docs = built[MESH_OVERLAY]
    istio = [d for d in docs if mesh_objects.is_mesh_kind(d)]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in istio) == [
        ("AuthorizationPolicy", "kfp-mlops-log-sink"),
        ("AuthorizationPolicy", "kfp-mlops-model-servers"),
        ("PeerAuthentication", "kfp-mlops-log-sink"),
        ("PeerAuthentication", "kfp-mlops-model-servers"),
    ]
    config = next(d for d in docs if d["metadata"]["name"] == "kfp-mlops-config")
    namespace = config["metadata"]["namespace"]
    for doc in istio:
        assert mesh_objects.problems(doc) == [], doc["metadata"]["name"]
        assert doc["metadata"]["namespace"] == namespace
        for rule in doc["spec"].get("rules", []):
            for source in rule.get("from", []):
                for p in source["source"]["principals"]:
                    assert "NAMESPACE" not in p, p  # the overlay's replacements wrote it
    sink_policy = next(d for d in istio if d["kind"] == "AuthorizationPolicy"
                       and d["metadata"]["name"] == "kfp-mlops-log-sink")  # fmt: skip
    assert sink_policy["spec"]["rules"][0]["from"][0]["source"]["principals"] == [
        f"cluster.local/ns/{namespace}/sa/kfp-mlops-predictor"
    ]


def test_the_mesh_policies_select_the_pods_they_are_about(built):
    docs = built[MESH_OVERLAY]
    istio = {(d["kind"], d["metadata"]["name"]): d for d in docs if mesh_objects.is_mesh_kind(d)}
    predictor_labels = render.predictor(_target())["labels"]
    sink = next(d for d in docs if d["kind"] == "Deployment"
                and d["metadata"]["name"] == "kfp-mlops-log-sink")  # fmt: skip
    sink_labels = sink["spec"]["template"]["metadata"]["labels"]
    for kind in ("AuthorizationPolicy", "PeerAuthentication"):
        assert _pods_selected(istio[kind, "kfp-mlops-model-servers"], predictor_labels)
        assert not _pods_selected(istio[kind, "kfp-mlops-model-servers"], sink_labels)
        assert _pods_selected(istio[kind, "kfp-mlops-log-sink"], sink_labels)
        assert not _pods_selected(istio[kind, "kfp-mlops-log-sink"], predictor_labels)
    # The sink's plain-text port is its metrics listener, not the ingest port.
    ports = {p["name"]: p["containerPort"] for p in sink["spec"]["template"]["spec"]
             ["containers"][0]["ports"]}  # fmt: skip
    plain = istio["PeerAuthentication", "kfp-mlops-log-sink"]["spec"]["portLevelMtls"]
    assert list(plain) == [str(ports["metrics"])] and plain[str(ports["metrics"])] == {
        "mode": "PERMISSIVE"
    }
    # A model server's plain-text port is the one Prometheus scrapes (its annotations).
    scraped = render.predictor(_target())["annotations"]["prometheus.io/port"]
    servers = istio["PeerAuthentication", "kfp-mlops-model-servers"]["spec"]["portLevelMtls"]
    assert servers == {scraped: {"mode": "PERMISSIVE"}}
    # In the mesh the sink runs a sidecar (its policy is enforced there); MinIO and MLflow not.
    sidecar = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"].get("annotations", {}).get(
            "sidecar.istio.io/inject")
        for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")
    }  # fmt: skip
    assert sidecar["kfp-mlops-log-sink"] == "true"
    assert sidecar["mlflow"] == sidecar["minio"] == sidecar["minio-buckets"] == "false"
