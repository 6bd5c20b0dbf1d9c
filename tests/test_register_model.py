"""The registry push against a real MLflow server: gating, lineage, idempotency, promotion."""

import hashlib
import json
import uuid
from pathlib import Path

import pandas as pd
import pytest
from kfp import dsl

from components._shared.errors import ConfigError, DataError, ServiceError
from components._shared.io import write_parquet
from components._shared.model_io import save_model
from components._shared.registry.client import Registry, pip_requirements
from components.register_model import component
from components.register_model.core import decide_promotion
from tests.conftest import GERMAN_CREDIT, free_port

FEATURES = ["sex", "housing", "credit_amount", "duration", "age"]
LINEAGE_TAGS = {
    "kfp_run_id",
    "model_sha256",
    "estimator",
    "dataset_uri",
    "dataset_sha256",
    "dataset_rows",
    "validation_suite_sha256",
    "package_version",
    "git_commit",
    "image",
    "parameters",
    "primary_metric",
    "primary_value",
    "gate_validation",
    "gate_evaluation",
    "gate_fairness",
}
STORED = f"dataset://german-credit@sha256:{'d' * 64}"


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.read_csv(GERMAN_CREDIT).head(300)


def train(credit: pd.DataFrame, seed: int = 0):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    # Classes train_model's models are made of (model_io.TRUSTED_TYPES): remainder="passthrough"
    # would be stored as a FunctionTransformer, which the model loader refuses.
    numbers = [f for f in FEATURES if f not in ("sex", "housing")]
    prep = ColumnTransformer(
        [
            ("text", OneHotEncoder(handle_unknown="ignore"), ["sex", "housing"]),
            ("numbers", SimpleImputer(strategy="median"), numbers),
        ]
    )
    clf = HistGradientBoostingClassifier(max_iter=10, random_state=seed)
    return Pipeline([("prep", prep), ("clf", clf)]).fit(credit[FEATURES], credit["risk"])


def evaluation(value=0.8, champion_version=None, champion_value=None) -> dict:
    first = champion_version is None
    return {
        "passed": True,
        "reasons": ["roc_auc 0.8 >= 0.7"],
        "primary_metric": "roc_auc",
        "primary_value": value,
        "champion_version": champion_version,
        "champion_value": champion_value,
        "first_run": first,
        "delta": None if first else value - champion_value,
    }


FAIRNESS = {
    "passed": True,
    "reasons": [],
    "per_feature": {
        "sex": {
            "demographic_parity_difference": 0.05,
            "equalized_odds_difference": 0.08,
            "groups": {
                "female": {"count": 90, "selection_rate": 0.7, "tpr": 0.8, "fpr": 0.5},
                "male": {"count": 210, "selection_rate": 0.75, "tpr": 0.85, "fpr": 0.45},
            },
        }
    },
}


def artifacts(tmp_path, credit, seed=0, **overrides) -> dict:
    """The component's inputs as real artifacts in tmp_path, metadata per components/README.md."""
    folder = tmp_path / f"in-{seed}-{uuid.uuid4().hex[:6]}"
    fitted = train(credit, seed)
    model = dsl.Model(uri=str(folder / "model.skops"))
    trusted = save_model(fitted, model.path)
    model.metadata.update(
        framework="sklearn",
        estimator="hist_gradient_boosting",
        target_column="risk",
        hyperparameters={"max_iter": 10, "random_state": seed},
        feature_columns=FEATURES,
        classes=[0, 1],
        skops_trusted_types=trusted,
        sha256=hashlib.sha256(Path(model.path).read_bytes()).hexdigest(),
    )
    dataset = dsl.Dataset(uri=str(folder / "dataset.parquet"))
    write_parquet(credit, dataset.path)
    dataset.metadata.update(
        source_uri="s3://kfp-mlops-data/german_credit.csv", sha256="d" * 64, rows=float(len(credit))
    )
    dataset.metadata["dataset_version"] = STORED  # load_data's snapshot, stored as a version
    validation = dsl.Artifact(uri=str(folder / "validation.json"))
    (folder / "validation.json").write_text("{}")
    validation.metadata.update(success=True, suite_sha256="5" * 64, evaluated=3, failed=0)
    ev_report = dsl.Markdown(uri=str(folder / "evaluation.md"))
    ev_report.metadata.update(evaluation())
    fair_report = dsl.Markdown(uri=str(folder / "fairness.md"))
    fair_report.metadata.update(FAIRNESS)
    inputs = {
        "model": model,
        "dataset": dataset,
        "validation": validation,
        "evaluation_report": ev_report,
        "fairness_report": fair_report,
        "evaluation_blessed": True,
        "fairness_blessed": True,
        "model_name": "unset",
        "promote": True,
        "parameters": {"test_size": 0.25, "estimator": "hist_gradient_boosting"},
        "kfp_run_id": f"run-{uuid.uuid4().hex[:8]}",
    }
    return inputs | overrides


def run(tmp_path, inputs: dict) -> dict:
    """Call the component; returns the outputs' metadata and files."""
    out = tmp_path / f"out-{uuid.uuid4().hex[:6]}"
    registered = dsl.Artifact(uri=str(out / "registered_model"))
    lineage = dsl.Artifact(uri=str(out / "lineage.json"))
    card = dsl.Markdown(uri=str(out / "model_card.md"))
    component.register_model.python_func(
        **inputs, registered_model=registered, lineage=lineage, model_card=card
    )
    return {
        "meta": registered.metadata,
        "lineage": json.loads((out / "lineage.json").read_text()),
        "card": (out / "model_card.md").read_text(),
    }


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def client():
    from mlflow import MlflowClient

    return MlflowClient()


# -- pure rules (no server) ------------------------------------------------------------------


def test_register_model_decide_promotion_first_model_becomes_champion():
    decision = decide_promotion(
        promote=True, version=1, current_champion=None, evaluation=evaluation()
    )
    assert decision == (True, "promoted to champion (previous: none)")


def test_register_model_decide_promotion_worse_challenger_stays_challenger():
    promoted, reason = decide_promotion(
        promote=True, version=2, current_champion=1, evaluation=evaluation(0.7, 1.0, 0.8)
    )
    assert not promoted
    assert reason == "not promoted: roc_auc 0.7000 < champion v1's 0.8000"


def test_register_model_decide_promotion_equal_is_not_worse():
    assert decide_promotion(
        promote=True, version=2, current_champion=1, evaluation=evaluation(0.8, 1.0, 0.8)
    )[0]


def test_register_model_decide_promotion_champion_moved_meanwhile_is_a_race():
    promoted, reason = decide_promotion(
        promote=True, version=3, current_champion=2, evaluation=evaluation(0.9, 1, 0.8)
    )
    assert not promoted
    assert "the champion is now v2 but evaluation compared against v1" in reason


def test_register_model_decide_promotion_off_or_unscored_champion_moves_nothing():
    decision = decide_promotion(
        promote=False, version=1, current_champion=None, evaluation=evaluation()
    )
    assert decision == (False, "promotion is off: v1 is the challenger only")
    unscored = evaluation(0.9, 1, 0.8) | {"champion_value": None}
    assert not decide_promotion(promote=True, version=2, current_champion=1, evaluation=unscored)[0]


def test_register_model_pip_requirements_are_pinned():
    pins = pip_requirements()
    assert [p.split("==")[0] for p in pins] == ["scikit-learn", "skops", "numpy", "pandas", "scipy"]
    assert all("==" in p and p.split("==")[1] for p in pins)


def test_register_model_invalid_name_is_a_config_error(tmp_path, credit):
    with pytest.raises(ConfigError, match="model_name 'my model!' is not a registry name"):
        run(tmp_path, artifacts(tmp_path, credit, model_name="my model!"))


def test_register_model_changed_model_file_is_a_data_error(tmp_path, credit):
    inputs = artifacts(tmp_path, credit, model_name="x")
    inputs["model"].metadata["sha256"] = "0" * 64
    with pytest.raises(DataError, match="the file changed after training"):
        run(tmp_path, inputs)


def test_register_model_not_blessed_never_contacts_mlflow(tmp_path, credit, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    inputs = artifacts(tmp_path, credit, model_name="x", evaluation_blessed=False)
    out = run(tmp_path, inputs)
    assert out["meta"]["registered"] is False
    assert out["meta"]["reason"] == "not registered: the evaluation gate(s) did not bless the model"
    assert out["lineage"]["gates"] == {"validation": True, "evaluation": False, "fairness": True}


def test_register_model_without_tracking_uri_is_a_service_error(tmp_path, credit, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ServiceError, match="MLflow is not configured: set MLFLOW_TRACKING_URI"):
        run(tmp_path, artifacts(tmp_path, credit, model_name="x"))


# -- against the real MLflow server ----------------------------------------------------------


def test_register_model_first_registration_is_champion_with_lineage(stack, tmp_path, credit):
    import mlflow

    name = unique("first")
    inputs = artifacts(tmp_path, credit, model_name=name)
    out = run(tmp_path, inputs)
    meta = out["meta"]
    assert meta["registered"] is True and meta["promoted"] is True
    assert (meta["name"], meta["version"], meta["aliases"]) == (name, 1, ["challenger", "champion"])
    assert meta["previous_champion_version"] is None
    version = client().get_model_version(name, "1")
    assert set(version.tags) >= LINEAGE_TAGS
    assert version.tags["kfp_run_id"] == inputs["kfp_run_id"]
    assert version.tags["model_sha256"] == inputs["model"].metadata["sha256"]
    assert version.tags["dataset_sha256"] == "d" * 64
    assert version.tags["dataset_rows"] == "300"
    assert version.tags["dataset_version"] == STORED and STORED in version.description
    assert version.tags["validation_suite_sha256"] == "5" * 64
    assert version.tags["gate_fairness"] == "passed"
    assert json.loads(version.tags["parameters"])["test_size"] == 0.25
    assert "hist_gradient_boosting" in version.description
    run_data = client().get_run(meta["run_id"]).data
    assert run_data.params["hp.max_iter"] == "10"
    assert run_data.params["param.test_size"] == "0.25"
    assert run_data.metrics["evaluation.primary_value"] == 0.8
    assert run_data.metrics["fairness.sex.demographic_parity_difference"] == 0.05
    logged = {a.path for a in client().list_artifacts(meta["run_id"])}
    assert {"lineage.json", "model_card.md"} <= logged
    assert out["lineage"]["registration"]["version"] == 1
    assert out["lineage"]["dataset"] == {
        "uri": "s3://kfp-mlops-data/german_credit.csv",
        "sha256": "d" * 64,
        "rows": 300,
        "version": STORED,
    }
    assert f"| dataset version | {STORED} |" in out["card"]
    assert out["card"].startswith(f"# Model card: {name} v1")
    for section in (
        "## Intended use",
        "## Data",
        "## Training",
        "## Evaluation",
        "## Fairness",
        "## Gates",
        "## Lineage",
        "| female | 90 |",
    ):
        assert section in out["card"]
    (tmp_path / "dl").mkdir()
    loaded = mlflow.sklearn.load_model(f"models:/{name}@champion", dst_path=str(tmp_path / "dl"))
    expected = train(credit).predict(credit[FEATURES])
    assert (loaded.predict(credit[FEATURES]) == expected).all()


def test_register_model_gate_not_blessed_registers_nothing(stack, tmp_path, credit):
    name = unique("rejected")
    out = run(tmp_path, artifacts(tmp_path, credit, model_name=name, fairness_blessed=False))
    meta = out["meta"]
    assert meta["registered"] is False and meta["version"] is None and meta["aliases"] == []
    assert meta["reason"] == "not registered: the fairness gate(s) did not bless the model"
    assert out["card"].startswith(f"# Model card: {name} (not registered)")
    assert client().search_registered_models(f"name = '{name}'") == []
    assert client().get_experiment_by_name(name) is None


def test_register_model_failed_validation_registers_nothing(stack, tmp_path, credit):
    name = unique("invalid")
    inputs = artifacts(tmp_path, credit, model_name=name)
    inputs["validation"].metadata["success"] = False
    assert run(tmp_path, inputs)["meta"]["registered"] is False
    assert client().search_registered_models(f"name = '{name}'") == []


def test_register_model_retry_registers_nothing_twice(stack, tmp_path, credit):
    name = unique("retry")
    inputs = artifacts(tmp_path, credit, model_name=name)
    first, second = run(tmp_path, inputs)["meta"], run(tmp_path, inputs)["meta"]
    assert first["version"] == second["version"] == 1
    assert first["run_id"] == second["run_id"]
    assert second["aliases"] == ["challenger", "champion"] and second["promoted"] is True
    assert len(client().search_model_versions(f"name = '{name}'")) == 1
    experiment = client().get_experiment_by_name(name)
    assert len(client().search_runs([experiment.experiment_id])) == 1


def test_register_model_retry_after_run_logged_reuses_the_run(stack, tmp_path, credit):
    # The first attempt died between logging the run and creating the version.
    from components._shared.model_io import load_model

    name = unique("halfway")
    inputs = artifacts(tmp_path, credit, model_name=name)
    sha = inputs["model"].metadata["sha256"]
    key = {"kfp_run_id": inputs["kfp_run_id"], "model_sha256": sha}
    model = load_model(inputs["model"].path, sha256=sha)
    types = inputs["model"].metadata["skops_trusted_types"]
    run_id, _, _ = Registry().log_run(
        name, key, model, types, {}, {}, None, model_path=inputs["model"].path
    )
    assert client().search_registered_models(f"name = '{name}'") == []
    meta = run(tmp_path, inputs)["meta"]
    assert (meta["version"], meta["run_id"]) == (1, run_id)


def test_register_model_worse_challenger_keeps_the_champion(stack, tmp_path, credit):
    name = unique("worse")
    run(tmp_path, artifacts(tmp_path, credit, model_name=name))
    worse = artifacts(tmp_path, credit, seed=1, model_name=name)
    worse["evaluation_report"].metadata.update(evaluation(0.7, 1.0, 0.8))
    meta = run(tmp_path, worse)["meta"]
    assert (meta["version"], meta["aliases"], meta["promoted"]) == (2, ["challenger"], False)
    assert "roc_auc 0.7000 < champion v1's 0.8000" in meta["reason"]
    assert client().get_model_version_by_alias(name, "champion").version == "1"


def test_register_model_better_challenger_becomes_champion(stack, tmp_path, credit):
    name = unique("better")
    run(tmp_path, artifacts(tmp_path, credit, model_name=name))
    better = artifacts(tmp_path, credit, seed=1, model_name=name)
    better["evaluation_report"].metadata.update(evaluation(0.85, 1.0, 0.8))
    meta = run(tmp_path, better)["meta"]
    assert (meta["version"], meta["aliases"], meta["promoted"]) == (
        2,
        ["challenger", "champion"],
        True,
    )
    assert meta["previous_champion_version"] == 1
    assert client().get_model_version(name, "1").aliases == []


def test_register_model_champion_moved_since_evaluation_not_promoted(stack, tmp_path, credit):
    name = unique("race")
    run(tmp_path, artifacts(tmp_path, credit, model_name=name))
    run(tmp_path, artifacts(tmp_path, credit, seed=1, model_name=name, promote=False))
    client().set_registered_model_alias(name, "champion", "2")  # someone promoted v2 meanwhile
    late = artifacts(tmp_path, credit, seed=2, model_name=name)
    late["evaluation_report"].metadata.update(evaluation(0.9, 1.0, 0.8))  # it saw v1
    meta = run(tmp_path, late)["meta"]
    assert (meta["version"], meta["aliases"], meta["promoted"]) == (3, ["challenger"], False)
    assert "promoted meanwhile" in meta["reason"]
    assert client().get_model_version_by_alias(name, "champion").version == "2"


def test_register_model_promotion_off_registers_challenger_only(stack, tmp_path, credit):
    name = unique("nopromote")
    meta = run(tmp_path, artifacts(tmp_path, credit, model_name=name, promote=False))["meta"]
    assert (meta["version"], meta["aliases"], meta["promoted"]) == (1, ["challenger"], False)
    assert client().get_registered_model(name).aliases == {"challenger": "1"}


def test_register_model_mlflow_unreachable_fails_and_registers_nothing(
    stack, tmp_path, credit, monkeypatch
):
    name = unique("down")
    nowhere = f"http://127.0.0.1:{free_port()}"
    inputs = artifacts(tmp_path, credit, model_name=name)
    with monkeypatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", nowhere)
        with pytest.raises(ServiceError, match=f"MLflow at {nowhere} .* nothing was registered"):
            run(tmp_path, inputs)
    # The client reads MLFLOW_TRACKING_URI (the stack's again). No mlflow.set_tracking_uri: it
    # outlived this test and sent test_registry_race's fluent calls past its lost-reply proxy.
    assert client().search_registered_models(f"name = '{name}'") == []
    assert client().get_experiment_by_name(name) is None


def test_register_model_error_never_shows_credentials_in_the_uri(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:s3cret@127.0.0.1:{free_port()}")
    with pytest.raises(ServiceError, match=r"MLflow at http://\*\*\*@127\.0\.0\.1:\d+ ") as caught:
        Registry()
    assert "s3cret" not in str(caught.value)
    assert caught.value.__cause__ is None
