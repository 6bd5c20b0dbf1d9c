"""The lineage record of a candidate model: tags, run parameters and metrics, description."""

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from components._shared.errors import DataError
from components._shared.image import package_version
from components._shared.registry.lineage import flat_hyperparameters, param_key
from components._shared.settings import lineage_env

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter value
MODEL_FACTS = ("estimator", "hyperparameters", "classes", "feature_columns", "target_column")


@dataclass(frozen=True)
class Candidate:
    """Everything the upstream steps know about the model (artifact metadata as they wrote it)."""

    model_path: str
    model: dict
    dataset: dict
    validation: dict
    evaluation: dict
    fairness: dict
    evaluation_blessed: bool
    fairness_blessed: bool
    parameters: dict
    kfp_run_id: str
    sample: pd.DataFrame | None = None  # a few input rows for the MLflow signature


def as_int(value: object) -> int | None:
    """An int from KFP metadata (ints come back as floats; versions may be text)."""
    return None if value is None or value == "" else int(float(value))


def model_sha256(candidate: Candidate) -> str:
    """The model file's sha256, checked against what train_model recorded."""
    digest = hashlib.sha256(Path(candidate.model_path).read_bytes()).hexdigest()
    recorded = candidate.model.get("sha256")
    if recorded and recorded != digest:
        raise DataError(
            f"model file {candidate.model_path} has sha256 {digest}, but train_model recorded "
            f"{recorded}: the file changed after training; re-run the training step"
        )
    return digest


def build_lineage(candidate: Candidate, gates: dict[str, bool], sha: str) -> dict:
    """The lineage record (JSON values): data, validation, model, code, parameters, gates."""
    model, data, env = candidate.model, candidate.dataset, lineage_env()
    return {
        "kfp_run_id": candidate.kfp_run_id,
        "model": {
            "sha256": sha,
            **{k: model.get(k) for k in MODEL_FACTS},
        },
        "dataset": {
            "uri": data.get("source_uri"),
            "sha256": data.get("sha256"),
            "rows": as_int(data.get("rows")),
            # The stored dataset version (dataset://NAME@sha256:HEX) load_data wrote or read.
            "version": data.get("dataset_version") or None,
        },
        "validation": {k: candidate.validation.get(k) for k in ("suite_sha256", "success")},
        "code": {"package_version": package_version(), **env},
        "parameters": candidate.parameters,
        "gates": gates,
        # KFP metadata turns the champion's version into a float.
        "evaluation": candidate.evaluation
        | {"champion_version": as_int(candidate.evaluation.get("champion_version"))},
        "fairness": candidate.fairness,
    }


def version_tags(lineage: dict) -> dict[str, str]:
    """The lineage tags every registered version carries (all values as text)."""
    ev = lineage["evaluation"]
    tags = {
        "kfp_run_id": lineage["kfp_run_id"],
        "model_sha256": lineage["model"]["sha256"],
        "estimator": lineage["model"]["estimator"],
        "dataset_uri": lineage["dataset"]["uri"],
        "dataset_sha256": lineage["dataset"]["sha256"],
        "dataset_rows": lineage["dataset"]["rows"],
        "dataset_version": lineage["dataset"].get("version"),
        "validation_suite_sha256": lineage["validation"]["suite_sha256"],
        "package_version": lineage["code"]["package_version"],
        "git_commit": lineage["code"]["git_commit"],
        "image": lineage["code"]["image"],
        "parameters": json.dumps(lineage["parameters"], sort_keys=True, default=str),
        "primary_metric": ev.get("primary_metric"),
        "primary_value": ev.get("primary_value"),
    }
    tags |= {f"gate_{g}": "passed" if ok else "rejected" for g, ok in lineage["gates"].items()}
    if tags["dataset_version"] is None:  # a snapshot stored nowhere: no tag, not "unknown"
        del tags["dataset_version"]
    return {k: "unknown" if v is None else str(v) for k, v in tags.items()}


def _flat(prefix: str, value: object) -> dict[str, object]:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out |= _flat(f"{prefix}.{k}" if prefix else str(k), v)
        return out
    return {prefix: value}


def run_params(candidate: Candidate) -> dict[str, str]:
    """Run parameters: estimator, hp.<name> (flattened), param.<pipeline parameter>."""
    params = {"estimator": candidate.model.get("estimator")}
    params |= {f"param.{k}": v for k, v in candidate.parameters.items()}
    text = {k: v if isinstance(v, str) else json.dumps(v, default=str) for k, v in params.items()}
    # hp.<name> in the one form check_novelty reads back and compares.
    text |= flat_hyperparameters(candidate.model.get("hyperparameters") or {})
    return {param_key(k): v[:MAX_PARAM_LENGTH] for k, v in text.items()}


def run_metrics(candidate: Candidate, gates: dict[str, bool]) -> dict[str, float]:
    """Run metrics: evaluation.<number>, fairness.<feature>.<difference>, gate.<name> (1/0)."""
    numbers = _flat("evaluation", candidate.evaluation)
    for feature, facts in (candidate.fairness.get("per_feature") or {}).items():
        for name in ("demographic_parity_difference", "equalized_odds_difference"):
            numbers[f"fairness.{feature}.{name}"] = facts.get(name)
    numbers |= {f"gate.{g}": float(ok) for g, ok in gates.items()}
    return {
        param_key(k): float(v)
        for k, v in numbers.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def description(lineage: dict) -> str:
    """The version's one-paragraph description in the MLflow UI."""
    ev, data = lineage["evaluation"], lineage["dataset"]
    version = data.get("version")
    stored = f", stored as {version}" if version and version != data["uri"] else ""
    return (
        f"{lineage['model']['estimator']} trained on {data['uri']} "
        f"(sha256 {str(data['sha256'])[:12]}, {data['rows']} rows{stored}); "
        f"{ev.get('primary_metric')} = {ev.get('primary_value')}; every gate passed; "
        f"KFP run {lineage['kfp_run_id'] or 'unknown'}. See model_card.md on the run."
    )
