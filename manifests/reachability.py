"""Who must reach whom, checked on the built overlays by a real NetworkPolicy analyzer.

PATHS below is the declaration: every path a pod needs (must be open) and the ones it must not
have (must be closed). `make manifests-check` runs this script: it builds each overlay
(standalone, kubeflow-profile) with `kubectl kustomize` (manifests/check.py), once alone and
once with manifests/monitoring's NetworkPolicies applied in its namespace, adds the pods the
manifests do not hold (a KFP v2 pipeline pod, a predictor with the labels deploy_model renders,
Prometheus and a client in namespaces of their own, an unlabelled pod beside ours), and asks
IBM's network-config-analyzer (NCA, `.venv-nca`, `make nca`) for the connectivity map. Each
declared path is then looked up in NCA's answer; a path open that must be closed, or closed
that must be open, fails the check, named with the policies NCA says decide it.

The table in manifests/README.md ("Reachability") is generated from PATHS
(`--write-readme`); the check fails while it differs.
"""

import argparse
import ipaddress
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

MANIFESTS = Path(__file__).resolve().parent
REPO = MANIFESTS.parent
sys.path.insert(0, str(MANIFESTS))  # check.py beside this file
sys.path.insert(0, str(REPO))  # components.deploy_model.render
import check  # noqa: E402

from components.deploy_model import render  # noqa: E402

NCA_ENV = "KFP_MLOPS_NCA"
NCA_DEFAULT = REPO / ".venv-nca" / "bin" / "nca"
OVERLAYS = ("standalone", "kubeflow-profile")
README = MANIFESTS / "README.md"
TABLE_START = "<!-- reachability table: generated from manifests/reachability.py, do not edit -->"
TABLE_END = "<!-- end of the reachability table -->"
MONITORING_NS = "monitoring"
CLIENTS_NS = "clients"
KNATIVE_NS = "knative-serving"
# The Kubernetes API server is no pod: NetworkPolicy sees it as an address outside the pod
# network (the Service's ClusterIP is translated to it first). This one stands for it.
API_ADDRESS = "172.20.0.1"

# What NCA is shown of a built overlay: the policies and the workloads (their pod templates).
KINDS = frozenset({"NetworkPolicy", "Deployment", "StatefulSet", "Job", "DaemonSet", "Pod"})

OPEN, CLOSED, WITH_MONITORING = "open", "closed", "open with monitoring/"


@dataclass(frozen=True)
class Reach:
    """One declared path: `source` to `target` on TCP `port` must be `verdict`."""

    source: str
    target: str
    port: int
    verdict: str  # OPEN, CLOSED, or WITH_MONITORING (open only with manifests/monitoring)
    why: str

    def expected(self, monitoring: bool) -> str:
        """The verdict due in a cluster with (or without) manifests/monitoring applied."""
        if self.verdict == WITH_MONITORING:
            return OPEN if monitoring else CLOSED
        return self.verdict


# Who the endpoints are. Workloads come from the built overlay (their pod templates' labels);
# the rest are representative pods, or the API server's address.
WORKLOADS = {
    "minio": ("StatefulSet", "minio"),
    "mlflow": ("Deployment", "mlflow"),
    "minio-buckets": ("Job", "minio-buckets"),
    "log-sink": ("Deployment", "kfp-mlops-log-sink"),
}
DESCRIBED = {
    "pipeline": "a KFP v2 pipeline pod (`pipelines.kubeflow.org/v2_component=true`)",
    "predictor": "a model server `deploy_model` renders (`render.predictor()`'s labels)",
    "log-sink": "the prediction-log sink (ingest 8080, metrics 9090)",
    "minio": "MinIO's S3 port",
    "mlflow": "the MLflow server",
    "minio-buckets": "the bucket Job",
    "prometheus": "Prometheus (`app.kubernetes.io/name=prometheus`, namespace `monitoring`)",
    "client": "an ordinary pod in another namespace",
    "autoscaler": "Knative's autoscaler (namespace `knative-serving`; Serverless only)",
    "unlabelled": "a pod in our namespace without our labels",
    "kubernetes-api": "the Kubernetes API server (an address outside the pod network)",
}

PATHS = (
    Reach("pipeline", "minio", 9000, OPEN, "pipeline data and KFP artifacts"),
    Reach("pipeline", "mlflow", 5000, OPEN, "tracking and the registry"),
    Reach("pipeline", "kubernetes-api", 443, OPEN, "kfp-launcher, deploy's InferenceService"),
    Reach("mlflow", "minio", 9000, OPEN, "the artifact proxy"),
    Reach("minio-buckets", "minio", 9000, OPEN, "creates the buckets and users"),
    Reach("predictor", "mlflow", 5000, OPEN, "loads its model through the registry"),
    Reach("predictor", "minio", 9000, OPEN, "model artifacts; a builtin log writes there"),
    Reach("predictor", "log-sink", 8080, OPEN, "KServe's payload logger posts the events"),
    Reach("log-sink", "minio", 9000, OPEN, "writes the prediction log"),
    Reach("log-sink", "mlflow", 5000, OPEN, "reads the registered signatures"),
    Reach("client", "predictor", 8080, OPEN, "predictions (RawDeployment)"),
    Reach("client", "predictor", 8012, OPEN, "predictions through Knative's queue-proxy"),
    Reach("prometheus", "predictor", 8080, OPEN, "scrapes the server's /metrics"),
    Reach("autoscaler", "predictor", 9090, OPEN, "reads queue-proxy's request statistics"),
    Reach("prometheus", "log-sink", 9090, WITH_MONITORING, "scrapes the sink's metrics port"),
    Reach("client", "log-sink", 8080, CLOSED, "only model servers send events"),
    Reach("client", "log-sink", 9090, CLOSED, "only Prometheus scrapes"),
    Reach("unlabelled", "log-sink", 8080, CLOSED, "only model servers send events"),
    Reach("pipeline", "log-sink", 8080, CLOSED, "only model servers send events"),
    Reach("prometheus", "log-sink", 8080, CLOSED, "a scraper cannot write the log"),
    Reach("client", "minio", 9000, CLOSED, "storage is ours alone"),
    Reach("client", "mlflow", 5000, CLOSED, "the registry is ours alone"),
    Reach("unlabelled", "minio", 9000, CLOSED, "not without `kfp-mlops/client=true`"),
    Reach("unlabelled", "mlflow", 5000, CLOSED, "not without `kfp-mlops/client=true`"),
    Reach("prometheus", "minio", 9000, CLOSED, "a scraper reads metrics only"),
    Reach("prometheus", "mlflow", 5000, CLOSED, "a scraper reads metrics only"),
    Reach("minio", "mlflow", 5000, CLOSED, "storage never calls the registry"),
    Reach("pipeline", "minio", 9001, CLOSED, "S3 port only (no console)"),
    Reach("client", "predictor", 9090, CLOSED, "serving ports only; 9090 is the autoscaler's"),
    Reach("log-sink", "kubernetes-api", 443, CLOSED, "the sink needs no API (egress policy)"),
    Reach("log-sink", "client", 8080, CLOSED, "the sink calls MinIO, MLflow, DNS only"),
    Reach("log-sink", "predictor", 8080, CLOSED, "the sink calls MinIO, MLflow, DNS only"),
)


class ReachabilityError(Exception):
    """The check cannot run: no analyzer, a build that fails, an answer it cannot read."""


# -- the cluster NCA is shown ------------------------------------------------------------------


def _namespace(docs: list[dict]) -> str:
    for doc in docs:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "mlflow":
            return doc["metadata"]["namespace"]
    raise ReachabilityError("the overlay has no Deployment mlflow to take the namespace from")


def predictor_labels() -> dict[str, str]:
    """The labels a rendered predictor pod carries: render.predictor()'s own."""
    target = render.Target(
        service="german-credit", namespace="ns", model_name="german-credit", version=3,
        sha256="ab" * 32, image="ghcr.io/kfp-mlops/kfp-mlops:0.3.0",
        service_account="kfp-mlops-predictor", deployment_mode=render.STANDARD,
        prediction_log=render.KSERVE_LOGGER, log_sink_url="http://kfp-mlops-log-sink/",
        resources={"requests": {"cpu": "1", "memory": "1Gi"}},
    )  # fmt: skip
    return dict(render.predictor(target)["labels"])


def representative_pods(namespace: str) -> dict[str, tuple[str, dict[str, str]]]:
    """Endpoint name -> (namespace, labels) of the pods the manifests do not hold."""
    return {
        "pipeline": (namespace, {"pipelines.kubeflow.org/v2_component": "true"}),
        "predictor": (namespace, predictor_labels()),
        "prometheus": (MONITORING_NS, {"app.kubernetes.io/name": "prometheus"}),
        "client": (CLIENTS_NS, {"app": "client"}),
        "autoscaler": (KNATIVE_NS, {"app": "autoscaler"}),
        "unlabelled": (namespace, {"app": "shell"}),
    }


def cluster(overlay: list[dict], monitoring: list[dict] | None) -> tuple[list[dict], str]:
    """What NCA reads: the overlay, monitoring's policies in its namespace, the other pods."""
    namespace = _namespace(overlay)
    # The NetworkPolicy layer alone: it holds with or without a mesh (an Istio
    # AuthorizationPolicy in the overlay acts only where sidecars run; NCA would mix it in).
    docs = [dict(d) for d in overlay if d["kind"] in KINDS]
    for policy in monitoring or []:
        if policy["kind"] == "NetworkPolicy":  # applied with `kubectl apply -n $NS`
            meta = {**policy["metadata"], "namespace": namespace}
            docs.append({**policy, "metadata": meta})
    for ns in sorted({namespace, MONITORING_NS, CLIENTS_NS, KNATIVE_NS}):
        labels = {"kubernetes.io/metadata.name": ns}
        docs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": ns, "labels": labels}})  # fmt: skip
    for name, (ns, labels) in representative_pods(namespace).items():
        docs.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": name, "image": "example.invalid/pod"}]},
        })  # fmt: skip
    return docs, namespace


def endpoint_names(namespace: str) -> dict[str, str]:
    """Endpoint -> how NCA names it in a connectivity map (`ns/name[Kind]`)."""
    names = {e: f"{namespace}/{name}[{kind}]" for e, (kind, name) in WORKLOADS.items()}
    for e, (ns, _) in representative_pods(namespace).items():
        names[e] = f"{ns}/{e}[Pod]"
    return names


# -- NCA -----------------------------------------------------------------------------------


def nca() -> str:
    """The `nca` executable, or a ReachabilityError that says how to install it."""
    path = os.environ.get(NCA_ENV) or str(NCA_DEFAULT)
    if not Path(path).is_file():
        raise ReachabilityError(
            f"network-config-analyzer not found at {path}: run `make nca` (creates .venv-nca "
            f"from manifests/nca/requirements.lock), or point {NCA_ENV} at an `nca` executable"
        )
    return path


def _run_nca(docs: list[dict], *extra: str) -> str:
    with tempfile.TemporaryDirectory(prefix="kfp-mlops-nca-") as tmp:
        resources = Path(tmp) / "cluster.yaml"
        resources.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        done = subprocess.run(
            [nca(), "--connectivity", "-r", str(resources), "--output_format",
             "txt_no_fw_rules", *extra],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode not in (0,):
        raise ReachabilityError(f"nca exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout


Ports = dict[str, set[int] | None]  # protocol -> ports (None: every port)
_CUBE = re.compile(r"\{protocols:([A-Za-z0-9, ]+?)(?:,dst_ports:([0-9,\-]+))?\}")


def parse_connection(text: str) -> Ports:
    """NCA's connection set ('All connections', '{protocols:TCP,dst_ports:8012,8080}', ...)."""
    text = text.strip()
    if text == "All connections":
        return {"TCP": None, "UDP": None, "SCTP": None}
    found: Ports = {}
    rest = text
    for cube in _CUBE.finditer(text):
        ports = None
        if cube.group(2):
            ports = set()
            for part in cube.group(2).split(","):
                low, _, high = part.partition("-")
                ports |= set(range(int(low), int(high or low) + 1))
        for proto in (p.strip() for p in cube.group(1).split(",")):
            old = found.get(proto, set())
            found[proto] = None if ports is None or old is None else old | ports
        rest = rest.replace(cube.group(0), "", 1)
    if not found or rest.strip(", ") != "":
        raise ReachabilityError(f"cannot read NCA's connection set {text!r}")
    return found


def _in_range(address: str, text: str) -> bool:
    """Whether NCA's address range ('a.b.c.d-e.f.g.h', a CIDR, several with ',') holds it."""
    ip = ipaddress.ip_address(address)
    for part in text.split(","):
        low, sep, high = part.strip().partition("-")
        if sep:
            if ipaddress.ip_address(low) <= ip <= ipaddress.ip_address(high):
                return True
        elif ip in ipaddress.ip_network(low, strict=False):
            return True
    return False


def connectivity(docs: list[dict]) -> list[tuple[str, str, Ports]]:
    """NCA's connectivity map of the cluster: (source, target, connections) per allowed pair."""
    pairs = []
    for line in _run_nca(docs).splitlines():
        if " => " not in line:
            continue
        source, _, rest = line.partition(" => ")
        target, _, conn = rest.partition(" : ")
        pairs.append((source.strip(), target.strip(), parse_connection(conn)))
    if not pairs:
        raise ReachabilityError("NCA gave an empty connectivity map")
    return pairs


def is_open(pairs, source: str, target: str, port: int) -> bool:
    """Whether the map lets `source` reach `target` on TCP `port` (target may be an address)."""
    for src, dst, ports in pairs:
        if src != source:
            continue
        by_address = _is_address(target) and _is_range(dst) and _in_range(target, dst)
        if dst != target and not by_address:
            continue
        tcp = ports.get("TCP", set())
        if tcp is None or port in tcp:
            return True
    return False


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_range(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F.:/,\- ]+", text))


def explain(docs: list[dict], source: str, target: str) -> str:
    """NCA's account of the policies that decide source -> target (for a failure's message)."""
    if _is_address(target):
        return "(egress to an address: see the source's egress policies)"

    def pod(name: str) -> str:  # NCA names a workload's pod <name>-1
        return name.split("[")[0] + ("" if name.endswith("[Pod]") else "-1")

    out = _run_nca(docs, "--explain", f"{pod(source)},{pod(target)}")
    _, _, tail = out.partition("Explainability results:")
    lines = []
    for line in tail.splitlines():
        line = re.sub(r": line \d+ in file \S+", "", line).rstrip()
        if line and not line.startswith(("Total run time", "Resource Configurations")):
            lines.append(line)
    return "\n      ".join(lines) or "(NCA explained nothing)"


# -- the check -----------------------------------------------------------------------------


@dataclass
class Verdict:
    """A declared path in one configuration: what is due, what NCA found, and why."""

    reach: Reach
    config: str
    expected: str
    found: str
    policies: str = ""

    @property
    def ok(self) -> bool:
        """Whether NCA found the path as declared."""
        return self.expected == self.found


def evaluate(config: str, docs: list[dict], namespace: str, monitoring: bool) -> list[Verdict]:
    """Every declared path's verdict in one cluster, from NCA's connectivity map."""
    pairs = connectivity(docs)
    names = endpoint_names(namespace)
    names["kubernetes-api"] = API_ADDRESS
    verdicts = []
    for reach in PATHS:
        source, target = names[reach.source], names[reach.target]
        found = OPEN if is_open(pairs, source, target, reach.port) else CLOSED
        verdict = Verdict(reach, config, reach.expected(monitoring), found)
        if not verdict.ok:
            verdict.policies = explain(docs, source, target)
        verdicts.append(verdict)
    return verdicts


def configs(root: Path = MANIFESTS) -> dict[str, tuple[list[dict], str, bool]]:
    """Each overlay alone and with monitoring's policies: name -> (docs, namespace, monitoring)."""
    built = check.build_all(root)
    found = {}
    for overlay in OVERLAYS:
        key = f"overlays/{overlay}"
        if key not in built:
            raise ReachabilityError(f"no overlay {key} under {root}")
        for monitoring in (False, True):
            docs, namespace = cluster(built[key], built.get("monitoring") if monitoring else None)
            name = f"{overlay}{' + monitoring' if monitoring else ''}"
            found[name] = (docs, namespace, monitoring)
    return found


def run(root: Path = MANIFESTS) -> list[Verdict]:
    """Every declared path's verdict in every configuration."""
    verdicts = []
    for name, (docs, namespace, monitoring) in configs(root).items():
        verdicts += evaluate(name, docs, namespace, monitoring)
    return verdicts


# -- the README table ----------------------------------------------------------------------


def table() -> str:
    """The Markdown table of PATHS, as manifests/README.md holds it."""
    rows = [
        "| from | to | port | must be | why |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in PATHS:
        rows.append(f"| {r.source} | {r.target} | {r.port} | {r.verdict} | {r.why} |")
    rows += ["", "Endpoints:", ""]
    rows += [f"- `{name}`: {what}" for name, what in DESCRIBED.items()]
    return "\n".join(rows)


def readme_table(text: str) -> str | None:
    """The generated table a README holds between the markers, or None without them."""
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        return None
    return text[start + len(TABLE_START) : end].strip()


def write_readme(path: Path = README) -> None:
    """Write table() between the README's markers."""
    text = path.read_text()
    if readme_table(text) is None:
        raise ReachabilityError(f"{path} has no {TABLE_START!r} ... {TABLE_END!r} section")
    start, end = text.find(TABLE_START) + len(TABLE_START), text.find(TABLE_END)
    path.write_text(text[:start] + "\n" + table() + "\n" + text[end:])


def report(verdicts: list[Verdict]) -> str:
    """Each path with NCA's verdict per configuration."""
    names = list(dict.fromkeys(v.config for v in verdicts))
    head = "| path | " + " | ".join(names) + " |"
    lines = [head, "|" + " --- |" * (len(names) + 1)]
    for reach in PATHS:
        cells = []
        for name in names:
            (v,) = [v for v in verdicts if v.reach == reach and v.config == name]
            cells.append(v.found if v.ok else f"{v.found} (MUST BE {v.expected.upper()})")
        path = f"{reach.source} -> {reach.target}:{reach.port}"
        lines.append(f"| {path} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Check every path; 0 when all are as declared, 1 when not, 2 when it cannot run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=Path, default=MANIFESTS, help="manifests folder")
    parser.add_argument("--write-readme", action="store_true",
                        help="write the declared table into the README and stop")  # fmt: skip
    args = parser.parse_args(argv)
    readme = args.manifests / "README.md"
    if args.write_readme:
        write_readme(readme)
        return 0
    try:
        verdicts = run(args.manifests)
    except (ReachabilityError, check.CheckError) as exc:
        print(f"reachability: {exc}", file=sys.stderr)
        return 2
    print(report(verdicts))
    failed = [v for v in verdicts if not v.ok]
    for v in failed:
        r = v.reach
        print(
            f"reachability: {v.config}: {r.source} -> {r.target}:{r.port} is {v.found}, must be "
            f"{v.expected} ({r.why}); NCA on the policies deciding it:\n      {v.policies}",
            file=sys.stderr,
        )
    stale = readme_table(readme.read_text()) != table()
    if stale:
        print(
            f"reachability: {readme} does not hold the declared table: run "
            "`.venv/bin/python manifests/reachability.py --write-readme`",
            file=sys.stderr,
        )
    total = len(verdicts)
    print(f"reachability: {total - len(failed)}/{total} paths as declared (NCA), "
          f"{len(PATHS)} paths x {total // len(PATHS)} configurations")  # fmt: skip
    return 1 if failed or stale else 0


if __name__ == "__main__":
    sys.exit(main())
