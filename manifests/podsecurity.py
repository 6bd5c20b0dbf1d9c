"""Check every pod we ship or render against Pod Security "restricted" (make manifests-check).

The pods: every workload of every built kustomize target (built as check.py builds them, from
a staged copy with the example env files) and the InferenceService predictor deploy_model
renders, in every deployment mode and prediction-log mode, turned into the pod KServe creates
from it (`kserve_pod`).

The rules are not ours: checkov (its own virtualenv, .venv-checkov, from
manifests/checkov/requirements.lock; `make checkov`) evaluates each pod with the Kubernetes
checks that correspond to the controls of the standard (CHECKS below; manifests/README.md says
which controls checkov does not cover). A pod passes when every one of those checks ran on it
and passed; a check that did not run on a pod is a failure too, so a pod kind or a field
checkov cannot read does not pass silently.
"""

import argparse
import copy
import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

MANIFESTS = Path(__file__).resolve().parent
ROOT = MANIFESTS.parent
# check.py sits beside this file; the renderer is the project's (components/).
sys.path.insert(0, str(MANIFESTS))
sys.path.insert(1, str(ROOT))
import check  # noqa: E402

from components._shared.image import IMAGE  # noqa: E402
from components.deploy_model import render  # noqa: E402

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
INSTALL_CHECKOV = (
    f"{CHECKOV.relative_to(ROOT)} not found: the Pod Security check runs checkov from its own "
    "virtualenv; create it with `make checkov` (installs manifests/checkov/requirements.lock)"
)
# checkov's Kubernetes checks for the controls of Pod Security "restricted" (which includes
# "baseline"), each with the control it stands for. CKV_K8S_22 (read-only root filesystem)
# is no control of the standard; we hold every pod to it as well.
CHECKS = {
    "CKV_K8S_16": "baseline: privileged containers (securityContext.privileged not true)",
    "CKV_K8S_17": "baseline: host namespaces (hostPID not true)",
    "CKV_K8S_18": "baseline: host namespaces (hostIPC not true)",
    "CKV_K8S_19": "baseline: host namespaces (hostNetwork not true)",
    "CKV_K8S_25": "baseline/restricted: capabilities (nothing in capabilities.add)",
    "CKV_K8S_26": "baseline: host ports (no hostPort)",
    "CKV_K8S_27": "baseline: hostPath volumes (only the Docker socket's)",
    "CKV_K8S_20": "restricted: privilege escalation (allowPrivilegeEscalation false)",
    "CKV_K8S_23": "restricted: running as non-root (runAsNonRoot true or runAsUser > 0)",
    "CKV_K8S_31": "baseline/restricted: seccomp (seccompProfile.type RuntimeDefault)",
    "CKV_K8S_37": "restricted: capabilities (capabilities.drop ALL)",
    "CKV_K8S_28": "restricted: capabilities (NET_RAW dropped)",
    "CKV_K8S_22": "ours: read-only root filesystem (readOnlyRootFilesystem true)",
}
POD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
# The predictor fields that are KServe's ComponentExtensionSpec (plus `name`, the predictor's
# name in spec.canary[]), not PodSpec: KServe reads them and leaves them out of the pod.
KSERVE_EXTENSION_FIELDS = {
    "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "scaleMetricType",
    "autoScaling", "containerConcurrency", "timeout", "canaryTrafficPercent", "logger",
    "batcher", "labels", "annotations", "deploymentStrategy", "name",
}  # fmt: skip
# The sidecar KServe's pod webhook adds when the predictor has a logger (or a batcher).
KSERVE_AGENT = "agent"


class PodSecurityError(Exception):
    """The analyzer is missing, or it could not judge the pods."""


@functools.cache
def _pod_spec_fields() -> frozenset[str]:
    """The field names of a Kubernetes 1.32 PodSpec (kubernetes-validate's bundled schema)."""
    import kubernetes_validate

    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    pod_spec = json.loads((schemas / "v1.32.0-local-strict" / "podspec-v1.json").read_text())
    return frozenset(pod_spec["properties"])


def kserve_pod(predictor: dict, name: str, namespace: str = "kfp-mlops") -> dict:
    """The Pod KServe creates for a rendered predictor (custom container, no storageUri).

    KServe's PredictorSpec (pkg/apis/serving/v1beta1/predictor.go) embeds a whole PodSpec
    inline beside its ComponentExtensionSpec: the controller runs the PodSpec fields as the
    pod's spec (in a Deployment for RawDeployment/Standard, a Knative Revision for
    Serverless) and puts the extension's labels and annotations on the pod. With a logger,
    its pod webhook adds the `agent` sidecar with a copy of the first container's
    securityContext (pkg/webhook/admission/pod/agent_injector.go, InjectAgent); that sidecar
    is added here the same way. Knative's queue-proxy (Serverless) and an Istio sidecar are
    added by other operators and are not part of this pod.
    """
    unknown = set(predictor) - _pod_spec_fields() - KSERVE_EXTENSION_FIELDS
    if unknown:
        raise PodSecurityError(
            f"{name}: predictor fields {sorted(unknown)} are neither PodSpec nor KServe's "
            "ComponentExtensionSpec: add them to KSERVE_EXTENSION_FIELDS in "
            "manifests/podsecurity.py if KServe reads them, or fix the renderer"
        )
    spec = copy.deepcopy({k: v for k, v in predictor.items() if k in _pod_spec_fields()})
    if "logger" in predictor or "batcher" in predictor:
        first = spec["containers"][0]
        agent = {"name": KSERVE_AGENT, "image": "kserve/agent"}
        if "securityContext" in first:
            agent["securityContext"] = copy.deepcopy(first["securityContext"])
        spec["containers"].append(agent)
    metadata = {"name": name, "namespace": namespace}
    for key in ("labels", "annotations"):
        if predictor.get(key):
            metadata[key] = dict(predictor[key])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def rendered_pods() -> dict[str, dict]:
    """The predictor pod of every deployment mode and prediction-log mode deploy_model renders."""
    pods = {}
    for mode in render.MODES:
        for log in render.LOG_MODES:
            target = render.Target(
                service="model", namespace="kfp-mlops", model_name="model", version=1,
                sha256="0" * 64, image=IMAGE, service_account="kfp-mlops-predictor",
                deployment_mode=mode, prediction_log=log,
                log_sink_url="http://kfp-mlops-log-sink.kfp-mlops.svc.cluster.local/",
                resources={"requests": {"cpu": "250m", "memory": "512Mi"},
                           "limits": {"cpu": "1", "memory": "1Gi"}},
            )  # fmt: skip
            render.check_target(target, 0)
            name = f"predictor-{mode.lower()}-{log}"
            pods[f"rendered/{name}"] = kserve_pod(render.predictor(target), name)
    return pods


def shipped_pods(built: dict[str, list[dict]]) -> dict[str, dict]:
    """Every pod-bearing object of every built target, keyed target/Kind/name."""
    return {
        f"{target}/{doc['kind']}/{doc['metadata']['name']}": doc
        for target, docs in built.items()
        for doc in docs
        if doc.get("kind") in POD_KINDS
    }


def checkov_results(objects: dict[str, dict], checks=tuple(CHECKS)) -> dict[str, dict]:
    """Run checkov on the objects; per key, {check id: "PASSED" | "FAILED"} of what ran."""
    if not CHECKOV.is_file():
        raise PodSecurityError(INSTALL_CHECKOV)
    files = {}
    with tempfile.TemporaryDirectory(prefix="kfp-mlops-podsecurity-") as tmp:
        for index, (key, obj) in enumerate(objects.items()):
            path = Path(tmp) / f"{index:03d}.yaml"
            path.write_text(yaml.safe_dump(obj, sort_keys=False))
            files[f"/{path.name}"] = key
        env = dict(os.environ, BC_SKIP_MAPPING="TRUE")  # no download of the platform's map
        done = subprocess.run(
            [str(CHECKOV), "--directory", tmp, "--framework", "kubernetes", "--output", "json",
             "--skip-download", "--check", ",".join(checks)],
            capture_output=True, text=True, check=False, env=env,
        )  # fmt: skip
    if done.returncode not in (0, 1):
        raise PodSecurityError(f"checkov exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        why = f"checkov printed no JSON report ({exc}): {done.stdout[:500]}"
        raise PodSecurityError(why) from exc
    results = {key: {} for key in objects}
    for state, found in (("PASSED", "passed_checks"), ("FAILED", "failed_checks")):
        for result in report["results"][found]:
            key = files[result["file_path"]]
            # A worse verdict wins if checkov reports a check twice for one object.
            if results[key].get(result["check_id"]) != "FAILED":
                results[key][result["check_id"]] = state
    return results


def problems(objects: dict[str, dict], checks=tuple(CHECKS)) -> dict[str, list[str]]:
    """Per object, the restricted checks it fails or that did not run on it (empty: passes)."""
    found = {}
    for key, verdicts in checkov_results(objects, checks).items():
        lines = [
            f"{check_id} {verdicts.get(check_id, 'NOT RUN')}: {CHECKS[check_id]}"
            for check_id in checks
            if verdicts.get(check_id) != "PASSED"
        ]
        found[key] = lines
    return found


def main(argv: list[str] | None = None) -> int:
    """0 when every shipped and rendered pod passes, 1 when not, 2 without kubectl/checkov."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=Path, default=MANIFESTS, help="manifests folder")
    args = parser.parse_args(argv)
    try:
        check.kubectl()
        shipped = shipped_pods(check.build_all(args.manifests))
        rendered = rendered_pods()
        found = problems(shipped | rendered)
    except check.CheckError as exc:
        print(f"podsecurity: {exc}", file=sys.stderr)
        return 2 if str(exc) == check.INSTALL_KUBECTL else 1
    except PodSecurityError as exc:
        print(f"podsecurity: {exc}", file=sys.stderr)
        return 2 if str(exc) == INSTALL_CHECKOV else 1
    failed = 0
    for key, lines in found.items():
        for line in lines:
            print(f"podsecurity: {key}: {line}", file=sys.stderr)
        failed += bool(lines)
    print(
        f"Pod Security restricted (checkov, {len(CHECKS)} checks): {len(found) - failed} of "
        f"{len(found)} pods pass ({len(shipped)} shipped, {len(rendered)} rendered predictors)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
