"""The `kfp-mlops` command line: exit codes and messages that need no running stack."""

import json
import socket

from kfp_mlops.cli.main import main
from tests.conftest import free_port


def test_cli_compile_check_passes_on_committed_specs(capsys):
    assert main(["compile", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_cli_params_lists_types_and_defaults_from_the_compiled_spec(capsys):
    assert main(["params", "training"]) == 0
    out = capsys.readouterr().out
    assert "max_demographic_parity_difference" in out and "default 0.1" in out
    assert "sensitive_features" in out and '["sex"]' in out
    assert "random_seed                          integer  default 42\n" in out


def test_cli_params_shows_each_parameters_description_from_the_compiled_spec(capsys):
    assert main(["params", "training"]) == 0
    out = capsys.readouterr().out
    assert (
        'sensitive_features                   list     default ["sex"]\n'
        '    Columns to split the rows by, e.g. ["sex", "age"].\n'
    ) in out
    # A parameter several steps read, saying different things: each step is named.
    assert "    register model: Registered model name (letters, digits, '_', '.', '-').\n" in out
    assert "    evaluate model: Registered model name whose @champion is the baseline.\n" in out
    assert main(["params", "monitoring"]) == 0
    out = capsys.readouterr().out
    assert "prediction_drift_alias" in out and "The alias of that model version" in out


def test_every_pipeline_parameter_has_a_description_in_its_compiled_spec():
    from kfp_mlops.params.describe import spec_descriptions
    from kfp_mlops.params.parse import spec_parameters
    from pipelines.descriptors import PIPELINES

    for name, pipeline in PIPELINES.items():
        said = spec_descriptions(pipeline.compiled_path)
        declared = spec_parameters(pipeline.compiled_path)
        assert set(said) == set(declared), name
        assert [p for p in declared if not said[p]] == [], name


def test_cli_p_help_says_how_to_write_lists_and_mappings(capsys):
    for command in ("run-local", "run"):
        assert main([command, "-h"]) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert 'A list is a JSON list \'["sex","age"]\' or comma-separated sex,age' in out
        assert "a mapping is a JSON object '{\"max_depth\": 3}'" in out, command


def test_cli_unknown_pipeline_is_a_usage_error(capsys):
    assert main(["run-local", "trainnig"]) == 2
    err = capsys.readouterr().err
    known = "['compare-live', 'deploy', 'monitoring', 'monitoring-fleet', 'training']"
    expected = f"unknown pipeline 'trainnig'; expected one of {known}"
    assert expected in err


def test_cli_bad_arguments_exit_2_and_help_exits_0(capsys):
    assert main(["run-local"]) == 2
    assert main(["--help"]) == 0
    assert "run-local" in capsys.readouterr().out


def test_cli_run_local_port_taken_prints_a_json_failure(tmp_path, monkeypatch, capsys):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        monkeypatch.setenv("KFP_MLOPS_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("KFP_MLOPS_S3_PORT", str(port))
        monkeypatch.setenv("KFP_MLOPS_MLFLOW_PORT", str(free_port()))
        code = main(["run-local", "training", "--output", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["status"] == "failed" and out["model"] is None
    assert (
        f"port {port} on 127.0.0.1 is in use" in out["error"]
        and "KFP_MLOPS_S3_PORT" in out["error"]
    )


def test_cli_stack_status_of_a_stack_never_started_is_down(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KFP_MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KFP_MLOPS_S3_PORT", str(free_port()))
    monkeypatch.setenv("KFP_MLOPS_MLFLOW_PORT", str(free_port()))
    assert main(["stack", "status"]) == 1
    out = capsys.readouterr().out
    assert "seaweedfs" in out and "mlflow" in out and "down" in out


def test_cli_drift_shifted_columns_exit_3_with_the_json_shape(tmp_path, capsys):
    import pandas as pd

    from tests.conftest import GERMAN_CREDIT

    current = pd.read_csv(GERMAN_CREDIT)
    current["credit_amount"] *= 3
    current["age"] += 20
    path = tmp_path / "current.parquet"
    current.to_parquet(path)
    args = ["drift", str(GERMAN_CREDIT), str(path), "--columns", "credit_amount,age,sex"]
    assert main([*args, "--format", "json"]) == 3
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"]["drifted"] is True
    verdicts = {c["column"]: (c["method"], c["drifted"]) for c in out["columns"]}
    assert verdicts == {"credit_amount": ("ks", True), "age": ("ks", True), "sex": ("z", False)}
    assert main(["drift", str(GERMAN_CREDIT), str(GERMAN_CREDIT), "--method", "nope"]) == 2
    assert "expected one of" in capsys.readouterr().err


def test_cli_suggest_suite_writes_a_suite_its_data_passes(tmp_path, capsys):
    from components._shared.io import read_table
    from components.validate_data.core import validate
    from tests.conftest import GERMAN_CREDIT

    out = tmp_path / "suite.json"
    assert (
        main(["suggest-suite", str(GERMAN_CREDIT), "--target", "risk", "--output", str(out)]) == 0
    )
    assert "expectations" in capsys.readouterr().err
    suite = json.loads(out.read_text())
    assert validate(read_table(str(GERMAN_CREDIT)).frame, "risk", suite).success
    assert main(["suggest-suite", str(GERMAN_CREDIT), "--output", str(out)]) == 1  # no overwrite


def test_cli_drift_on_parts_of_two_schemas_names_the_part_not_a_traceback(tmp_path, capsys):
    """A log prefix written before values were held to their type: one day's `age` is text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for day, ages in (("2026-12-01", [30, 41, 52]), ("2026-12-02", ["30", "41", "old"])):
        (tmp_path / "log" / f"date={day}").mkdir(parents=True)
        table = pa.table({"age": ages * 20, "amount": [1.0, 2.0, 3.0] * 20})
        pq.write_table(table, tmp_path / "log" / f"date={day}" / "part.parquet")
    pq.write_table(pa.table({"age": [30, 41] * 30, "amount": [1.0, 2.0] * 30}), tmp_path / "r.pq")
    code = main(["drift", str(tmp_path / "r.pq"), f"{tmp_path / 'log'}/", "--mode", "exact"])
    err = capsys.readouterr().err
    assert code == 1
    assert "date=2026-12-02/part.parquet has other types than" in err
    assert "age: string (first part: int64)" in err and "a narrower date window" in err
    assert "Traceback" not in err
