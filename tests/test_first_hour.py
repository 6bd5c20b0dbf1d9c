"""The first hour on the documented path (issue 19, part 4): each friction pinned."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kfp.local import status, task_dispatcher

from kfp_mlops.runs import retries

REPO = Path(__file__).resolve().parent.parent

_TRACE = """    Traceback (most recent call last):
      File "x.py", line 1, in f
        raise {cls}("{msg}")
    {module}{cls}: {msg}

"""


def _output(cls: str, msg: str = "boom", module: str = "components._shared.errors.") -> str:
    return _TRACE.format(cls=cls, msg=msg, module=module)


def test_the_last_exception_of_an_indented_task_output_is_read():
    out = _output("DataError", "first") + "noise\n" + _output("ServiceError", "MLflow down")
    assert retries.last_error(out) == ("ServiceError", "MLflow down")
    assert retries.last_error("no traceback here") is None


@pytest.mark.parametrize(
    ("cls", "module", "transient"),
    [
        ("DataError", "components._shared.errors.", False),
        ("ConfigError", "components._shared.errors.", False),
        ("KeyError", "", False),
        ("ServiceError", "components._shared.errors.", True),
        ("ConnectionRefusedError", "", True),
        ("EndpointConnectionError", "botocore.exceptions.", True),
    ],
)
def test_only_service_and_network_errors_can_pass_on_retry(cls, module, transient):
    assert retries.can_pass_on_retry(_output(cls, module=module)) is transient


def test_the_spec_loses_its_retry_policies_and_they_are_returned(tmp_path):
    spec = tmp_path / "pipeline.yaml"
    spec.write_text((REPO / "compiled" / "training.yaml").read_text())
    policies = retries.without_retries(spec)
    assert "retryPolicy" not in spec.read_text()
    assert policies  # the training spec asks for retries on its service steps
    policy = next(iter(policies.values()))
    assert (policy.delay(0), policy.delay(1)) == (5.0, 10.0)
    yaml.safe_load_all(spec.read_text())  # still a spec kfp.local can load


def _dispatch_with(monkeypatch, outcomes: list[tuple[str, str]], retries_: int = 2):
    """Install the retrying dispatch around a fake task that fails with `outcomes` in turn."""
    calls, slept = [], []

    def fake(*args, **kwargs):
        cls, msg = outcomes[len(calls)]
        calls.append(cls)
        if cls == "ok":
            return {}, status.Status.SUCCESS
        print(_output(cls, msg))
        return {}, status.Status.FAILURE

    monkeypatch.setattr(task_dispatcher, "run_single_task_implementation", fake)
    policy = retries.Policy(retries=retries_, backoff_s=5, factor=2, max_s=60)
    retries.install({"comp-x": policy}, sleep=slept.append)
    result = task_dispatcher.run_single_task_implementation(component_name="comp-x")
    return result[1], calls, slept


def test_a_deterministic_error_fails_once_without_back_off(monkeypatch, capsys):
    state, calls, slept = _dispatch_with(monkeypatch, [("DataError", "no such file")] * 3)
    assert (state, calls, slept) == (status.Status.FAILURE, ["DataError"], [])
    assert "not retried: DataError cannot pass on retry" in capsys.readouterr().out


def test_a_service_error_is_retried_with_back_off_and_says_so(monkeypatch, capsys):
    outcomes = [("ServiceError", "MLflow does not answer")] * 2 + [("ok", "")]
    state, calls, slept = _dispatch_with(monkeypatch, outcomes)
    assert calls == ["ServiceError", "ServiceError", "ok"]
    assert (state, slept) == (status.Status.SUCCESS, [5, 10])
    out = capsys.readouterr().out
    assert "retrying in 5 s (attempt 2 of 3)" in out
    assert "retrying in 10 s (attempt 3 of 3)" in out


def test_retries_stop_at_the_policy(monkeypatch):
    state, calls, slept = _dispatch_with(monkeypatch, [("ServiceError", "down")] * 3, retries_=1)
    assert (state, len(calls), slept) == (status.Status.FAILURE, 2, [5])


def test_make_help_lists_targets_with_digits():
    out = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True).stdout
    assert " e2e " in out.replace("\x1b[36m", " ").replace("\x1b[0m", " ")


def test_live_performance_line_says_each_bound_status_and_reason():
    from kfp_mlops.runs.render import render_text

    reason = "accuracy below 0.9 on the last 1 judged day(s), fewer than min_days 3"
    live = {
        "passed": True,
        "reasons": [],
        "metrics": {"accuracy": 0.7},
        "checks": {"accuracy": {"status": "passed", "reason": reason}},
    }
    summary = {"pipeline": "monitoring", "status": "succeeded", "blessed": None, "model": None,
               "gates": {"live_performance": live}, "run_dir": "r",
               "reports": ["r/reports/x.html"]}  # fmt: skip
    text = render_text(summary)
    assert f"passed: {reason}" in text
    assert "reports    r/reports/x.html" in text


def test_reports_are_stored_with_the_extension_their_type_declares(tmp_path):
    from kfp_mlops.runs.reports import store_reports

    spec = REPO / "compiled" / "training.yaml"
    task_dir = tmp_path / "outputs" / "training-1" / "check-fairness"
    task_dir.mkdir(parents=True)
    (task_dir / "report").write_text("# fairness\n")
    stored = store_reports(spec, tmp_path)
    assert stored == [str(tmp_path / "reports" / "check-fairness-report.md")]
    assert Path(stored[0]).read_text() == "# fairness\n"


def test_html_outputs_of_the_monitoring_spec_get_html(tmp_path):
    from kfp_mlops.runs.reports import report_types

    kinds = set(report_types(REPO / "compiled" / "monitoring.yaml").values())
    assert kinds == {".md", ".html"}


def _cli(*args, env_extra=None, home=None):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
    env |= {"KFP_MLOPS_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"} | (env_extra or {})
    return subprocess.run([sys.executable, "-m", "kfp_mlops.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_without_a_stack_the_registry_commands_say_stack_up_or_stack_env(tmp_path):
    done = _cli("history", "some-model", home=tmp_path / "no-stack")
    assert done.returncode == 1
    assert "kfp-mlops stack up" in done.stderr
    assert 'eval "$(kfp-mlops stack env)"' in done.stderr


def test_a_busy_port_is_a_usage_error_before_serving_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _cli("log-sink", "--port", str(port), "--metrics-port", "0", home=tmp_path,
                    env_extra={"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
                               "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--port" in done.stderr and "log sink on" not in done.stderr
