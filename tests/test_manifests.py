"""manifests/ fits the compiled specs and the house rules; make manifests-check catches breakage.

Pure: kubectl kustomize builds the manifests offline and the compile runs in a subprocess; no
stack, no cluster.
"""

import base64
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from components._shared.image import DEFAULT_REGISTRY, image_reference
from kfp_mlops.stack import ARTIFACT_BUCKET, DATA_BUCKET, Stack
from pipelines.descriptors import COMPILED_DIR

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = REPO / "manifests"
CHECK = MANIFESTS / "check.py"
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}


def _load_check():
    spec = importlib.util.spec_from_file_location("manifests_check", CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _load_check()


@pytest.fixture(scope="module")
def built():
    # The services' targets; the monitoring add-on has its own tests (test_monitoring_manifests).
    return {t: docs for t, docs in check.build_all().items() if t not in check.ADDONS}


@pytest.fixture(scope="module")
def overlays(built):
    found = {t: docs for t, docs in built.items() if t.startswith("overlays/")}
    assert {"overlays/standalone", "overlays/kubeflow-profile"} <= set(found)
    return found


def _find(docs, kind, name):
    hits = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return hits[0] if hits else None


def _namespace(docs):
    namespaces = {d["metadata"].get("namespace") for d in docs}
    assert len(namespaces) == 1, f"one namespace per overlay, got {namespaces}"
    return namespaces.pop()


def _compiled():
    """The committed specs (compiled/*.yaml); reading them needs no kfp import."""
    specs = sorted(COMPILED_DIR.glob("*.yaml"))
    assert specs, "compiled/ is empty; run `kfp-mlops compile`"
    return specs


def _spec_references():
    """(kind, name, key) of every Secret/ConfigMap key a compiled spec injects."""
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            for item in node.get("secretAsEnv", []):
                refs.update(
                    ("Secret", item["secretName"], k["secretKey"]) for k in item["keyToEnv"]
                )
            for item in node.get("configMapAsEnv", []):
                refs.update(
                    ("ConfigMap", item["configMapName"], k["configMapKey"])
                    for k in item["keyToEnv"]
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in _compiled():
        docs = list(yaml.safe_load_all(path.read_text()))
        platform = [d for d in docs if "platforms" in d]
        assert platform, f"{path.name} has no platforms: kubernetes document"
        walk(platform[0]["platforms"]["kubernetes"])
    return refs


def _keys(doc):
    return set(doc.get("data") or {}) | set(doc.get("stringData") or {})


def test_every_secret_configmap_and_key_the_specs_inject_is_defined_in_every_overlay(overlays):
    refs = _spec_references()
    assert {r[0] for r in refs} == {"Secret", "ConfigMap"}, "specs inject both kinds"
    for target, docs in overlays.items():
        for kind, name, key in sorted(refs):
            doc = _find(docs, kind, name)
            assert doc is not None, f"{target} defines no {kind} {name!r} (a spec injects it)"
            assert key in _keys(doc), f"{target}: {kind} {name!r} has no key {key!r}"


def test_each_overlay_points_the_pipelines_at_services_in_its_own_namespace(overlays):
    for target, docs in overlays.items():
        namespace = _namespace(docs)
        config = _find(docs, "ConfigMap", "kfp-mlops-config")["data"]
        for key, service in (("AWS_ENDPOINT_URL_S3", "minio"), ("MLFLOW_TRACKING_URI", "mlflow")):
            url = urlsplit(config[key])
            assert url.hostname == f"{service}.{namespace}.svc.cluster.local", (target, key)
            ports = [p["port"] for p in _find(docs, "Service", service)["spec"]["ports"]]
            assert url.port in ports, f"{target}: {key} port {url.port} not on Service {service}"
        mlflow = _find(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
        hosts_ref = next(e for e in mlflow["env"] if e["name"] == "MLFLOW_ALLOWED_HOSTS")
        hosts_map = hosts_ref["valueFrom"]["configMapKeyRef"]
        hosts = _find(docs, "ConfigMap", hosts_map["name"])["data"][hosts_map["key"]].split(",")
        tracking = urlsplit(config["MLFLOW_TRACKING_URI"]).netloc
        for host in (tracking, f"mlflow.{namespace}.svc:5000", "mlflow:5000"):
            assert host in hosts, f"{target}: MLflow --allowed-hosts lacks {host}"
        assert "*" not in hosts


def test_mlflow_proxies_artifacts_into_minio_with_its_own_credentials(built):
    for target, docs in built.items():
        pod = _find(docs, "Deployment", "mlflow")["spec"]["template"]["spec"]
        (server,) = pod["containers"]
        assert f"--artifacts-destination=s3://{ARTIFACT_BUCKET}/" in server["args"]
        assert "--allowed-hosts=$(MLFLOW_ALLOWED_HOSTS)" in server["args"]
        env = {e["name"]: e for e in server["env"]}
        assert env["MLFLOW_DISABLE_TELEMETRY"]["value"] == "true"
        endpoint = env["MLFLOW_S3_ENDPOINT_URL"]["valueFrom"]["configMapKeyRef"]
        assert endpoint == {"name": "kfp-mlops-config", "key": "AWS_ENDPOINT_URL_S3"}, target
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            ref = env[key]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "kfp-mlops-s3-mlflow", "key": key}, target  # no delete
        backend = next(a for a in server["args"] if a.startswith("--backend-store-uri="))
        mounts = [m["mountPath"] for m in server["volumeMounts"]]
        assert any(backend.startswith(f"--backend-store-uri=sqlite:///{m}/") for m in mounts)


def test_mlflow_image_is_the_one_the_project_builds_at_this_version(built):
    expected = image_reference(registry=DEFAULT_REGISTRY, name="kfp-mlops-mlflow")
    for target, docs in built.items():
        image = _pod(_find(docs, "Deployment", "mlflow"))["containers"][0]["image"]
        assert image == expected, f"{target}: {image}; bump the manifests with the version"


def test_bucket_job_creates_the_buckets_the_project_uses(built):
    for target, docs in built.items():
        job = _find(docs, "Job", "minio-buckets")
        script = "\n".join(job["spec"]["template"]["spec"]["containers"][0]["args"])
        buckets = {DATA_BUCKET, ARTIFACT_BUCKET}
        made = re.search(r"mc mb --ignore-existing (.+)", script).group(1).split()
        assert sorted(made) == sorted(f"store/{b}" for b in buckets), target
        # Each role's policy and Secret are checked in tests/test_storage_roles.py.
        assert "for file in /policies/*.json" in script, target


def _pod(doc):
    return doc["spec"]["template"]["spec"]


def _workload_faults(doc):
    kind, name, pod = doc["kind"], doc["metadata"]["name"], _pod(doc)
    faults = []
    psc = pod.get("securityContext", {})
    if not (psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) > 0):
        faults.append("pod runs as root or without runAsNonRoot/runAsUser")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        faults.append("no RuntimeDefault seccomp profile")
    if pod.get("automountServiceAccountToken") is not False:
        faults.append("mounts a service-account token it does not need")
    if kind == "Job" and not doc["spec"].get("activeDeadlineSeconds"):
        faults.append("Job without activeDeadlineSeconds")
    for c in pod.get("initContainers", []) + pod["containers"]:
        where = f"container {c['name']}"
        image = c["image"]
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or tag == "latest":
            faults.append(f"{where}: image {image} is not pinned to a tag")
        for part in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if res not in c.get("resources", {}).get(part, {}):
                    faults.append(f"{where}: no {res} {part[:-1]}")
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            faults.append(f"{where}: allowPrivilegeEscalation not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            faults.append(f"{where}: root filesystem writable")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            faults.append(f"{where}: capabilities not dropped")
        if kind in LONG_RUNNING and not ("readinessProbe" in c and "livenessProbe" in c):
            faults.append(f"{where}: missing readiness or liveness probe")
    return [f"{kind}/{name}: {f}" for f in faults]


def test_every_workload_is_probed_limited_pinned_and_non_root(built):
    for target, docs in built.items():
        workloads = [d for d in docs if d["kind"] in WORKLOADS]
        assert {d["kind"] for d in workloads} == {"Deployment", "StatefulSet", "Job"}, target
        faults = [f for d in workloads for f in _workload_faults(d)]
        assert faults == [], f"{target}: {faults}"


def test_the_workload_rules_catch_a_root_unpinned_unprobed_container(built):
    bad = yaml.safe_load(yaml.safe_dump(_find(built["base"], "Deployment", "mlflow")))
    container = _pod(bad)["containers"][0]
    container["image"] = "ghcr.io/kfp-mlops/kfp-mlops-mlflow:latest"
    del container["livenessProbe"], container["resources"]["limits"]
    _pod(bad)["securityContext"]["runAsNonRoot"] = False
    faults = "\n".join(_workload_faults(bad))
    for expected in ("not pinned", "no cpu limit", "no memory limit", "probe", "root"):
        assert expected in faults


# Who reaches whom is checked by a real NetworkPolicy analyzer on the built overlays, with the
# labels deploy_model renders: tests/test_reachability.py (manifests/reachability.py).


def test_log_sink_runs_the_project_image_with_the_sink_command(built):
    for target, docs in built.items():
        container = _pod(_find(docs, "Deployment", "kfp-mlops-log-sink"))["containers"][0]
        assert container["image"] == image_reference(registry=DEFAULT_REGISTRY), target
        assert container["command"] + container["args"] == [
            "kfp-mlops", "log-sink", "--host", "0.0.0.0", "--port", "8080",
            "--metrics-port", "9090",
        ], target  # fmt: skip


def test_deploy_role_grants_exactly_what_the_deploy_step_does(built):
    from components.deploy_model.kube import DEPLOY_ROLE, GROUP, PLURAL

    for target, docs in built.items():
        rules = _find(docs, "Role", DEPLOY_ROLE)["rules"]
        assert rules == [
            {
                "apiGroups": [GROUP],
                "resources": [PLURAL],
                "verbs": ["create", "get", "patch", "watch"],
            }
        ], target


def test_deploy_role_is_bound_to_the_same_account_as_the_pipeline_role(overlays):
    for target, docs in overlays.items():
        deploy = _find(docs, "RoleBinding", "kfp-mlops-deploy")
        subjects = [(s["name"], s.get("namespace")) for s in deploy["subjects"]]
        assert subjects == _binding_subjects(docs), target


def test_every_name_a_rendered_predictor_refers_to_exists_in_every_target(built):
    from components.deploy_model import render

    defaults = _pipeline_defaults("deploy")
    for target, docs in built.items():
        for name in (render.READONLY_SECRET, render.WRITER_SECRET):
            secret = _find(docs, "Secret", name)
            assert set(_keys(secret)) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, target
        account = _find(docs, "ServiceAccount", defaults["service_account"])
        assert account["automountServiceAccountToken"] is False, target
        sink = urlsplit(defaults["log_sink_url"]).hostname
        assert _find(docs, "Service", sink) is not None, target
        config = _find(docs, "ConfigMap", render.CONFIG_MAP)
        assert "KFP_MLOPS_PROMETHEUS_URL" in config["data"], target


def _pipeline_defaults(name: str) -> dict:
    import inspect

    from pipelines.descriptors import pipeline

    function = pipeline(name).load_function().pipeline_func
    return {k: p.default for k, p in inspect.signature(function).parameters.items()}


def _binding_subjects(docs):
    binding = _find(docs, "RoleBinding", "kfp-mlops-pipeline")
    return [(s["name"], s.get("namespace")) for s in binding["subjects"]]


def test_standalone_binds_pipeline_runner_and_sets_the_launcher_default(overlays):
    docs = overlays["overlays/standalone"]
    assert _namespace(docs) == "kubeflow"
    assert _binding_subjects(docs) == [("pipeline-runner", "kubeflow")]
    launcher = _find(docs, "ConfigMap", "kfp-launcher")
    assert launcher["data"]["defaultPipelineRoot"] == "minio://mlpipeline/v2/artifacts"


def test_kubeflow_profile_binds_default_editor_and_keeps_the_stores_out_of_the_mesh(overlays):
    docs = overlays["overlays/kubeflow-profile"]
    namespace = _namespace(docs)
    assert _binding_subjects(docs) == [("default-editor", namespace)]
    assert _find(docs, "ConfigMap", "kfp-launcher") is None, "the profile controller owns it"
    # MinIO, MLflow and the bucket Job stay out (pipeline pods have no sidecar); the log sink
    # is in the mesh, where its AuthorizationPolicy is enforced (tests/test_mesh.py).
    for doc in (d for d in docs if d["kind"] in WORKLOADS):
        annotations = doc["spec"]["template"]["metadata"].get("annotations", {})
        inside = doc["metadata"]["name"] == "kfp-mlops-log-sink"
        want = "true" if inside else "false"
        assert annotations.get("sidecar.istio.io/inject") == want, doc["metadata"]["name"]


def test_role_grants_only_reads_of_named_objects(built):
    for target, docs in built.items():
        for rule in _find(docs, "Role", "kfp-mlops-pipeline")["rules"]:
            assert rule["verbs"] == ["get"] and rule["resourceNames"], target


def test_build_uses_the_examples_never_the_real_env_files(tmp_path):
    root = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, root, ignore=shutil.ignore_patterns("*.env"))
    real = "real-secret-that-must-not-leave-the-env-file"
    (root / "base/secrets/kfp-mlops-s3.env").write_text(
        f"AWS_ACCESS_KEY_ID=realuser\nAWS_SECRET_ACCESS_KEY={real}\n"
    )
    secret = _find(check.build_all(root)["overlays/standalone"], "Secret", "kfp-mlops-s3")
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    example = (root / "base/secrets/kfp-mlops-s3.env.example").read_text()
    assert real not in values.values()
    assert f"AWS_SECRET_ACCESS_KEY={values['AWS_SECRET_ACCESS_KEY']}" in example
    assert sorted(p.name for p in root.rglob("*.env")) == ["kfp-mlops-s3.env"], "left as it was"


def test_no_secret_is_committed_and_the_env_files_are_gitignored():
    for path in MANIFESTS.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            assert not (doc and doc.get("kind") == "Secret"), f"{path}: Secrets are generated"
    examples = sorted(MANIFESTS.rglob("*.env.example"))
    assert examples
    env_files = [
        str(p.with_name(p.name.removesuffix(".example")).relative_to(REPO)) for p in examples
    ]
    ignored = subprocess.run(
        ["git", "check-ignore", *env_files], cwd=REPO, capture_output=True, text=True
    )
    assert sorted(ignored.stdout.split()) == sorted(env_files)


def test_every_target_is_schema_valid(built):
    assert set(built) >= {"base", "overlays/standalone", "overlays/kubeflow-profile"}
    for target, docs in built.items():
        assert check.problems(target, docs) == []


def _run_check(*args, env=None):
    return subprocess.run(
        [sys.executable, str(CHECK), *args], capture_output=True, text=True, env=env
    )


def test_check_fails_on_a_field_kubernetes_does_not_know(tmp_path):
    root = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, root, ignore=shutil.ignore_patterns("*.env"))
    deployment = root / "base/mlflow/deployment.yaml"
    deployment.write_text(deployment.read_text().replace("  replicas: 1\n", "  replicaz: 1\n"))
    done = _run_check("--manifests", str(root))
    assert done.returncode == 1
    assert "Deployment/mlflow: spec: Additional properties are not allowed ('replicaz'" in (
        done.stderr
    )
    assert "overlays/kubeflow-profile" in done.stderr and "overlays/standalone" in done.stderr


def test_check_fails_when_an_overlay_does_not_build(tmp_path):
    root = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, root, ignore=shutil.ignore_patterns("*.env"))
    (root / "overlays/standalone/kfp-mlops-config.yaml").unlink()
    done = _run_check("--manifests", str(root))
    assert done.returncode == 1
    assert "overlays/standalone: kustomize build failed" in done.stderr
    assert "kfp-mlops-config.yaml" in done.stderr


def test_check_without_kubectl_fails_and_says_how_to_install_it(tmp_path):
    done = _run_check(env={**os.environ, "PATH": str(tmp_path)})
    assert done.returncode == 2
    assert "kubectl not found on PATH" in done.stderr and "Install kubectl" in done.stderr


def test_compiled_specs_carry_no_credential_even_when_compiled_inside_the_stack_env(tmp_path):
    # The embedded stack's own environment, with values distinctive enough to grep for.
    home = tmp_path / "stack"
    home.mkdir()
    access, secret = "KFPLEAKCHECK0123456789", "leak-check-secret-6f1c0e9a4b7d2e8f3a5c"
    (home / "credentials.env").write_text(
        f"AWS_ACCESS_KEY_ID={access}\nAWS_SECRET_ACCESS_KEY={secret}\n"
    )
    stack_env = Stack(home=home, s3_port=48331, mlflow_port=48332).env()
    out = tmp_path / "compiled"
    out.mkdir()
    code = (
        "import sys; from pathlib import Path\n"
        "from pipelines.compile import compile_pipeline\n"
        "from pipelines.descriptors import pipelines\n"
        "for name in pipelines(): compile_pipeline(name, Path(sys.argv[1]) / f'{name}.yaml')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=REPO,
        env={**os.environ, **stack_env, "MINIO_ROOT_PASSWORD": secret},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    specs = sorted(out.glob("*.yaml"))
    assert [p.name for p in specs] == [p.name for p in _compiled()]
    leaks = {k: v for k, v in stack_env.items() if k != "MLFLOW_DISABLE_TELEMETRY"}
    for spec in specs:
        text = spec.read_text()
        for name, value in leaks.items():
            assert value not in text, f"{spec.name} carries the value of {name}"


def test_committed_specs_hold_no_credential_like_literal():
    secretish = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL", re.IGNORECASE)
    for path in _compiled():
        name, text = path.name, path.read_text()
        assert not re.search(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", text), "AWS access key id"
        # An AWS-style secret access key: 40 characters of base64 standing alone.
        assert not re.search(r"(?<![\w/+=])[A-Za-z0-9/+]{40}(?![\w/+=])", text)
        spec = next(yaml.safe_load_all(text))
        for executor in spec["deploymentSpec"]["executors"].values():
            for env in executor.get("container", {}).get("env", []):
                assert not secretish.search(env["name"]), f"{name}: literal env {env['name']}"


def _secrets_steps(doc: Path, heading: str) -> str:
    """A doc's "secrets first" commands up to the check, as a user would paste them."""
    section = doc.read_text().split(heading, 1)[1]
    block = textwrap.dedent(section.split("```bash\n", 1)[1].split("```", 1)[0])
    return block.split("make manifests-check", 1)[0]


@pytest.mark.parametrize(
    ("doc", "heading"),
    [
        (REPO / "docs" / "kubeflow.md", "## Apply the manifests (secrets first)"),
        (MANIFESTS / "README.md", "1. **Secrets first.**"),
    ],
    ids=["docs/kubeflow.md", "manifests/README.md"],
)
def test_the_docs_secrets_first_steps_build_every_overlay_as_written(tmp_path, doc, heading):
    """A new user copies exactly the env files the docs name, nothing else; kubectl kustomize
    (what `kubectl apply -k` runs first) then builds every overlay."""
    shutil.copytree(MANIFESTS, tmp_path / "manifests", ignore=shutil.ignore_patterns("*.env"))
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _secrets_steps(doc, heading)], cwd=tmp_path,
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for overlay in ("standalone", "kubeflow-profile"):
        built = subprocess.run(
            ["kubectl", "kustomize", str(tmp_path / "manifests" / "overlays" / overlay)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert built.returncode == 0, f"{overlay}: {built.stderr}"
