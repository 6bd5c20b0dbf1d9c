"""One map from errors to exit codes, the same for every command."""

import pytest

from components._shared.errors import ConfigError, DataError, ServiceError
from kfp_mlops.cli.main import main
from kfp_mlops.errors import (
    EXIT_FAILED,
    EXIT_USAGE,
    AuthError,
    RollbackError,
    RunTimeout,
    UsageError,
    exit_code_for,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("bad flag"), EXIT_USAGE),
        (ConfigError("bad setting"), EXIT_USAGE),
        (DataError("bad rows"), EXIT_FAILED),
        (ServiceError("no answer"), EXIT_FAILED),
        (AuthError("401"), EXIT_FAILED),
        (RollbackError("nothing to roll back"), EXIT_FAILED),
        (RunTimeout("still running"), EXIT_FAILED),
        (OSError("disk full"), EXIT_FAILED),
    ],
)
def test_exit_code_for_each_error_type(error, code):
    assert exit_code_for(error) == code


def test_a_config_error_is_exit_2_in_run_local_as_in_drift(monkeypatch, capsys, tmp_path):
    # Once exit 1 here and exit 2 in `drift`: a setting the user must fix is a usage error.
    monkeypatch.setenv("KFP_MLOPS_HOME", str(tmp_path))
    monkeypatch.setenv("KFP_MLOPS_S3_PORT", "eighty")
    assert main(["stack", "status"]) == EXIT_USAGE
    assert "KFP_MLOPS_S3_PORT='eighty' is not a TCP port" in capsys.readouterr().err
    assert main(["drift", "a.csv", "b.csv", "--threshold", "income"]) == EXIT_USAGE
    assert "--threshold 'income' is not COLUMN=VALUE" in capsys.readouterr().err


def test_unknown_pipeline_is_a_usage_error_in_every_command(capsys):
    for command in (["params", "nope"], ["run-local", "nope"], ["upload", "nope"]):
        assert main(command) == EXIT_USAGE, command
        known = "['compare-live', 'deploy', 'monitoring', 'monitoring-fleet', 'training']"
        assert f"unknown pipeline 'nope'; expected one of {known}" in capsys.readouterr().err
