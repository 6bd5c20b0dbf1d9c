"""Pipeline parameters are checked against the compiled spec before anything runs."""

import json

import pytest

from kfp_mlops.errors import UsageError
from kfp_mlops.params.parse import resolve
from pipelines.descriptors import compiled_path

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


def test_resolve_unknown_parameter_suggests_the_closest_and_where_names_are_listed():
    with pytest.raises(UsageError) as raised:
        resolve(SPEC, None, ["min_acuracy=0.8"])
    assert str(raised.value) == (
        "unknown parameter 'min_acuracy' for pipeline training; did you mean 'min_accuracy'? "
        "(`kfp-mlops params training` lists them)"
    )


def test_resolve_unknown_parameters_each_said_once_with_or_without_a_close_name(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("sensitve_features: [sex]\n")
    with pytest.raises(UsageError) as raised:
        resolve(compiled_path("monitoring"), params, ["zzz=1"])
    assert str(raised.value).splitlines() == [
        "unknown parameter 'sensitve_features' for pipeline monitoring; did you mean "
        "'sensitive_features'? (`kfp-mlops params monitoring` lists them)",
        "unknown parameter 'zzz' for pipeline monitoring (`kfp-mlops params monitoring` lists "
        "them)",
    ]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("sensitive_features=sex", ["sex"]),
        ("sensitive_features=sex,age", ["sex", "age"]),
        ("sensitive_features=sex, age", ["sex", "age"]),
        ('sensitive_features=["sex","age"]', ["sex", "age"]),
        ("sensitive_features=[sex, age]", ["sex", "age"]),
    ],
)
def test_resolve_list_parameter_takes_a_json_list_or_comma_separated_names(override, expected):
    assert resolve(SPEC, None, [override])["sensitive_features"] == expected


def test_resolve_empty_list_and_mapping_values_are_empty():
    got = resolve(compiled_path("monitoring"), None, ["drift_columns=", "drift_thresholds="])
    assert got["drift_columns"] == [] and got["drift_thresholds"] == {}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("hyperparameters=max_depth=3", {"max_depth": 3}),
        ("hyperparameters=max_depth=3, max_iter=200", {"max_depth": 3, "max_iter": 200}),
        ('hyperparameters={"max_depth": 3}', {"max_depth": 3}),
        ("hyperparameters=max_depth: 3", {"max_depth": 3}),
        (
            "hyperparameters=loss=log_loss,early_stopping=false",
            {"loss": "log_loss", "early_stopping": False},
        ),
    ],
)
def test_resolve_mapping_parameter_takes_a_json_object_or_key_value_pairs(override, expected):
    assert resolve(SPEC, None, [override])["hyperparameters"] == expected


@pytest.mark.parametrize(
    ("override", "says"),
    [
        (
            "sensitive_features=[sex",
            "parameter sensitive_features: cannot read '[sex' as a list (while parsing a flow "
            'sequence); write a JSON list, -p sensitive_features=\'["sex","age"]\', or '
            "comma-separated names, -p sensitive_features=sex,age (one item: "
            "-p sensitive_features=sex; none: -p sensitive_features=)",
        ),
        (
            "hyperparameters=3",
            "parameter hyperparameters: cannot read '3' as a mapping; write a JSON object, "
            "-p hyperparameters='{\"max_depth\": 3}', or comma-separated key=value pairs, "
            "-p hyperparameters=max_depth=3,max_iter=200 (none: -p hyperparameters=), or read it "
            "from a file, -p hyperparameters=@FILE",
        ),
        (
            "hyperparameters=max_depth=3,oops",
            "cannot read 'max_depth=3,oops' as a mapping (each comma-separated item must be "
            "key=value); write a JSON object",
        ),
        ("suite=nope", "-p suite=@data/suites/german_credit.json"),
    ],
)
def test_resolve_unreadable_list_or_mapping_says_the_syntax_with_an_example(override, says):
    with pytest.raises(UsageError) as raised:
        resolve(SPEC, None, [override])
    assert says in str(raised.value)


def test_resolve_list_of_the_wrong_type_in_a_params_file_says_the_syntax(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("sensitive_features: 3\n")
    with pytest.raises(UsageError) as raised:
        resolve(SPEC, params)
    assert "sensitive_features must be list, got int 3" in str(raised.value)
    assert "-p sensitive_features=sex,age" in str(raised.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("random_seed=1.5", "random_seed must be integer, got float"),
        ("min_accuracy=high", "min_accuracy must be double, got str"),
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


def test_rules_cover_every_numeric_parameter_and_name_only_declared_ones():
    from kfp_mlops.params.parse import spec_parameters
    from kfp_mlops.params.rules import RULES

    declared = {}
    for name in ("training", "monitoring"):
        declared |= spec_parameters(compiled_path(name))
    numeric = {n for n, p in declared.items() if p.type.startswith("NUMBER")}
    assert numeric <= set(RULES)
    assert set(RULES) <= set(declared)


@pytest.mark.parametrize(
    "override",
    [
        "min_accuracy=-1",  # below 0 unsets a bound
        "max_regression=0",
        "max_equalized_odds_difference=1",
        "test_size=0.999",
        "min_rows=1",
        "random_seed=0",
        "max_latency_ms=0.5",
        "estimator=logistic_regression",
        'hyperparameters={"max_depth": 3}',
        "sensitive_features=[sex, age]",
    ],
)
def test_resolve_accepts_values_at_the_edges_of_their_ranges(override):
    resolve(SPEC, None, [override])


def test_resolve_hyperparameters_are_checked_against_the_chosen_estimator():
    with pytest.raises(UsageError, match=r"'n_estimators'.*'hist_gradient_boosting'"):
        resolve(SPEC, None, ['hyperparameters={"n_estimators": 10}'])
    got = resolve(SPEC, None, ["estimator=random_forest", 'hyperparameters={"n_estimators": 10}'])
    assert got["hyperparameters"] == {"n_estimators": 10}


def test_resolve_range_error_names_value_range_default_and_way_out():
    with pytest.raises(UsageError) as raised:
        resolve(SPEC, None, ["test_size=1.5"])
    assert str(raised.value) == (
        "parameter test_size=1.5 is out of range: expected a finite number in (0, 1); the "
        "default is 0.25. Set it with -p test_size=VALUE or in the --params file"
    )


def test_resolve_empty_suite_needs_no_great_expectations_import():
    import subprocess
    import sys

    code = (
        "import sys; from kfp_mlops.params.parse import resolve; from pipelines.descriptors import "
        "compiled_path; resolve(compiled_path('training'), None, ['suite={}']); "
        "print('great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
