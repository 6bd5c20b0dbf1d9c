"""Build every kustomize target in manifests/ and validate it offline (make manifests-check).

Each target (base, every overlay, and the monitoring add-on) is built with `kubectl kustomize`
from a temporary copy in which every `*.env.example` stands in for its gitignored `*.env`: no
real secret is read and nothing generated lands in the repository. Every resulting document is
then validated with kubernetes-validate in strict mode (unknown fields are errors) against the
schemas it bundles.

Kubernetes versions: 1.32, the oldest cluster we target and the version of the kubectl
(kustomize 5.5) this check builds with, so a field newer than that fails; and 1.37, the newest
schema kubernetes-validate 1.37.0 bundles, so an API removed since then fails too.

The monitoring add-on (manifests/monitoring/: the Prometheus Operator's PrometheusRule and
PodMonitors, and the Grafana dashboard's ConfigMap) is applied only where the Operator's CRDs
exist. Its monitoring.coreos.com objects are validated against strict schemas derived from the
Operator's CRDs (operator_objects.py), its core objects like every other; and its
PrometheusRule must be the one generated from the plain rules file.
"""

import argparse
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import kubernetes_validate.utils
import yaml

# operator_objects.py sits beside this file, which is run as a script or loaded by path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import mesh_objects
import operator_objects

# kubernetes-validate 1.37.0 re-reads and re-parses the (large) schema files on every call;
# they never change during a run, so parse each once (7x faster here).
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
    kubernetes_validate.utils.schema_contents
)

MANIFESTS = Path(__file__).resolve().parent
K8S_VERSIONS = ("1.32.0", "1.37.0")
EXAMPLE_SUFFIX = ".env.example"
# Targets applied on their own, beside an overlay, only where what they need exists.
ADDONS = ("monitoring",)
INSTALL_KUBECTL = (
    "kubectl not found on PATH: `make manifests-check` builds the manifests with "
    "`kubectl kustomize` (kubectl 1.27 or newer). Install kubectl "
    "(https://kubernetes.io/docs/tasks/tools/; on Debian/Ubuntu `apt-get install kubectl` "
    "from the Kubernetes package repository) and run it again."
)


class CheckError(Exception):
    """A target does not build, or the tool to build it is missing."""


def targets(root: Path = MANIFESTS) -> list[str]:
    """The kustomize targets under root, relative to it: base, every overlay, the add-ons."""
    found = sorted(
        str(k.parent.relative_to(root)) for k in root.glob("overlays/*/kustomization.yaml")
    )
    addons = [a for a in ADDONS if (root / a / "kustomization.yaml").is_file()]
    return ["base", *found, *addons]


def stage(root: Path, dest: Path) -> Path:
    """Copy root to dest without any real env file; each example stands in for its env file."""
    shutil.copytree(root, dest, ignore=shutil.ignore_patterns("*.env", "__pycache__"))
    for example in dest.rglob(f"*{EXAMPLE_SUFFIX}"):
        shutil.copyfile(example, example.with_name(example.name.removesuffix(".example")))
    return dest


def kubectl() -> str:
    """The kubectl executable, or a CheckError that says how to install it."""
    path = shutil.which("kubectl")
    if path is None:
        raise CheckError(INSTALL_KUBECTL)
    return path


def build(staged: Path, target: str) -> list[dict]:
    """`kubectl kustomize` one target of a staged copy; its documents."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(staged / target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise CheckError(f"{target}: kustomize build failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def build_all(root: Path = MANIFESTS) -> dict[str, list[dict]]:
    """Every target under root, built from a temporary staged copy."""
    with tempfile.TemporaryDirectory(prefix="kfp-mlops-manifests-") as tmp:
        staged = stage(root, Path(tmp) / "manifests")
        return {target: build(staged, target) for target in targets(staged)}


def _name(doc: dict) -> str:
    return f"{doc.get('kind', '?')}/{doc.get('metadata', {}).get('name', '?')}"


def problems(target: str, docs: list[dict], versions=K8S_VERSIONS) -> list[str]:
    """Schema violations of the documents of one target, one line each."""
    found = []
    for doc in docs:
        if operator_objects.is_operator_kind(doc):
            found += [f"{target}: {_name(doc)}: {p}" for p in operator_objects.problems(doc)]
            continue
        if mesh_objects.is_mesh_kind(doc):
            found += [f"{target}: {_name(doc)}: {p}" for p in mesh_objects.problems(doc)]
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path) or "(top level)"
                found.append(
                    f"{target}: {_name(doc)}: {where}: {exc.message} (Kubernetes {version})"
                )
            except kubernetes_validate.SchemaNotFoundError:
                # Everything we ship is a core Kubernetes kind; an unknown one is a typo.
                found.append(
                    f"{target}: {_name(doc)}: no Kubernetes {version} schema for "
                    f"{doc.get('apiVersion')} {doc.get('kind')}"
                )
    return found


def main(argv: list[str] | None = None) -> int:
    """Build and validate every target; 0 when all are valid, 1 when not, 2 without kubectl."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=Path, default=MANIFESTS, help="manifests folder")
    args = parser.parse_args(argv)
    try:
        kubectl()
        built = build_all(args.manifests)
    except CheckError as exc:
        print(f"manifests-check: {exc}", file=sys.stderr)
        return 2 if str(exc) == INSTALL_KUBECTL else 1
    failed = False
    for target, docs in built.items():
        found = problems(target, docs)
        failed = failed or bool(found)
        for line in found:
            print(f"manifests-check: {line}", file=sys.stderr)
        state = f"{len(found)} problem(s)" if found else "valid"
        versions = ", ".join(K8S_VERSIONS)
        print(f"{target}: {len(docs)} resources, {state} (strict, Kubernetes {versions})")
    if (args.manifests / "monitoring").is_dir():
        why = operator_objects.stale(args.manifests / "monitoring")
        if why:
            failed = True
            print(f"manifests-check: monitoring: {why}: run `python manifests/operator_objects.py`",
                  file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
