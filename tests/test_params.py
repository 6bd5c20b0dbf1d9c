"""Pipeline parameters are checked against the compiled spec before anything runs."""

import json

import pytest

from pipelines.params import UsageError, resolve
from pipelines.registry import compiled_path

SPEC = compiled_path("training")


def test_resolve_types_values_from_file_and_overrides(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("estimator: random_forest\nsensitive_features: [sex, age]\nmin_accuracy: 1\n")
    got = resolve(
        SPEC, params, ["random_seed=7", 'hyperparameters={"n_estimators": 50}', "promote=false"]
    )
    assert got == {
        "estimator": "random_forest",
        "sensitive_features": ["sex", "age"],
        "min_accuracy": 1.0,
        "random_seed": 7,
        "hyperparameters": {"n_estimators": 50},
        "promote": False,
    }


def test_resolve_reads_at_file_values_relative_to_the_params_file(tmp_path):
    (tmp_path / "suite.json").write_text(json.dumps({"name": "s", "expectations": []}))
    params = tmp_path / "p.yaml"
    params.write_text('suite: "@suite.json"\n')
    assert resolve(SPEC, params)["suite"] == {"name": "s", "expectations": []}
    assert resolve(SPEC, None, ["suite=@suite.json"], cwd=tmp_path)["suite"]["name"] == "s"


def test_resolve_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(
        UsageError,
        match=r"unknown parameter\(s\) \['min_acuracy'\]; this pipeline takes .*'min_accuracy'",
    ):
        resolve(SPEC, None, ["min_acuracy=0.8"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("random_seed=1.5", "random_seed must be integer, got float"),
        ("min_accuracy=high", "min_accuracy must be double, got str"),
        ("sensitive_features=sex", "sensitive_features must be list, got str"),
        ("promote=7", "promote must be boolean, got int"),
        ("random_seed=true", "random_seed must be integer, got bool"),
    ],
)
def test_resolve_wrong_type_names_parameter_and_type(override, message):
    with pytest.raises(UsageError, match=message):
        resolve(SPEC, None, [override])


def test_resolve_missing_params_file_and_bad_override_syntax(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        resolve(SPEC, tmp_path / "nope.yaml")
    with pytest.raises(UsageError, match="expected key=value"):
        resolve(SPEC, None, ["estimator"])
