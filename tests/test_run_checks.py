"""A warm run's parameter checks: answered by a process forked from the warm runner.

The answers must equal the rules checked in-process (kfp_mlops/params/rules.py), whatever
way they are reached, and `run-local` itself must no longer import what the checks need.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kfp_mlops.runs import checks
from kfp_mlops.runs.tasks import WarmRunner

REPO = Path(__file__).resolve().parent.parent

# Two bad values (a hyperparameter the estimator does not take, an accuracy above 1) and a
# suite with an unknown expectation: the rules that need scikit-learn and GX, and one that not.
DEFAULTS = {"estimator": "hist_gradient_boosting", "min_accuracy": 0.7, "hyperparameters": {}}
BAD = DEFAULTS | {
    "hyperparameters": {"max_iterr": 3},
    "min_accuracy": 2.0,
    "suite": {"name": "s", "expectations": [{"type": "expect_nothing"}]},
}


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("checks")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("KFP_MLOPS_WARM_SOCKET", None)
    with WarmRunner(run_dir, env) as started:
        assert started.env, (run_dir / "warm.log").read_text()
        yield started.env["KFP_MLOPS_WARM_SOCKET"], run_dir


def test_run_checks_runner_answers_as_the_rules_do_in_a_forked_process(runner):
    path, run_dir = runner
    expected = checks.in_process(BAD, DEFAULTS)
    assert len(expected) == 3  # the fixture's three bad values, each named
    assert checks.by_runner(path)(BAD, DEFAULTS) == expected
    assert checks.by_runner(path)(DEFAULTS, DEFAULTS) == []
    deadline = time.monotonic() + 10
    while (log := (run_dir / "warm.log").read_text()).count("ended: 0") < 2:
        assert time.monotonic() < deadline, log
        time.sleep(0.05)
    assert log.count("parameter checks started") == 2
    # What the checks need is imported before they fork, not by every check again.
    assert log.count("imported great_expectations") == 1


def test_run_checks_gx_is_imported_first_only_for_a_suite_with_expectations():
    assert checks.GX in checks.imports_for(BAD)
    assert checks.GX not in checks.imports_for(DEFAULTS | {"suite": {}})
    assert "components.train_model.core" in checks.imports_for(DEFAULTS)


def test_run_checks_no_runner_or_a_gone_one_checks_in_this_process(tmp_path):
    expected = checks.in_process(BAD, DEFAULTS)
    assert checks.by_runner(None)(BAD, DEFAULTS) == expected
    assert checks.by_runner(str(tmp_path / "no.sock"))(BAD, DEFAULTS) == expected


def test_run_checks_a_runner_that_never_answers_costs_the_timeout_then_checks_here(
    tmp_path, monkeypatch
):
    import socket

    monkeypatch.setattr(checks, "ASK_TIMEOUT_S", 0.3)
    path = str(tmp_path / "silent.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.bind(path)
        silent.listen()  # accepts into the backlog, reads nothing, never answers
        assert checks.by_runner(path)(BAD, DEFAULTS) == checks.in_process(BAD, DEFAULTS)


def test_run_checks_a_rule_that_raises_raises_in_run_local_as_before(runner, monkeypatch):
    path, _ = runner
    # A value the rules cannot even compare (a set is no JSON value): TypeError in the forked
    # check, which then answers nothing; checking again here raises it to the caller.
    with pytest.raises(TypeError):
        checks.in_process(DEFAULTS | {"min_accuracy": {1}}, DEFAULTS)
    with pytest.raises(TypeError):
        checks.by_runner(path)(DEFAULTS | {"min_accuracy": {1}}, DEFAULTS)


def _python(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """SCRIPT run by this interpreter in a new process, from the repository, output captured."""
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


def test_run_checks_run_local_refuses_bad_values_without_importing_gx_or_sklearn(tmp_path):
    script = (
        "import sys\n"
        "from kfp_mlops.cli.main import main\n"
        "code = main(['run-local', 'training', '-p', 'hyperparameters={\"max_iterr\": 3}',"
        " '-p', 'min_accuracy=2'])\n"
        "heavy = [m for m in ('great_expectations', 'sklearn', 'pandas') if m in sys.modules]\n"
        "print('HEAVY', heavy, 'CODE', code, flush=True)\n"
    )
    env = {**os.environ, "KFP_MLOPS_HOME": str(tmp_path / "home")}
    env.pop("KFP_MLOPS_WARM_TASKS", None)
    proc = _python(script, env)
    assert "HEAVY [] CODE 2" in proc.stdout, proc.stdout + proc.stderr
    assert "max_iterr" in proc.stderr and "min_accuracy=2.0" in proc.stderr
    assert not (tmp_path / "home" / "runs").exists() or not any(
        (tmp_path / "home" / "runs").iterdir()
    )
    # Cold tasks (no runner): the same refusal, checked in the CLI's own process.
    env["KFP_MLOPS_WARM_TASKS"] = "0"
    cold = _python(script, env)
    assert "CODE 2" in cold.stdout and cold.stderr == proc.stderr
    assert "'sklearn'" in cold.stdout  # what the warm run spared its CLI process
