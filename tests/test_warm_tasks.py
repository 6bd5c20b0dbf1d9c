"""Warm local tasks behave as cold ones: same command, environment, streams, exit and cleanup.

A probe pipeline (lightweight components that report what their process sees) runs under
kfp.local twice, through the warm runner and cold, and the two must agree; the shim's exit
codes, signal deaths and forwarding are checked on kfp's own executor, and the runner refuses
what is not a task.
"""

import json
import os
import re
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import pytest
from kfp import compiler, dsl

from kfp_mlops.runs.local import hand_retries_to_worker
from kfp_mlops.runs.tasks import WarmRunner, write_shim

REPO = Path(__file__).resolve().parent.parent


@dsl.component(base_image="python:3.11")
def probe(out_dir: str, tag: str) -> str:
    """Write what this task process sees to OUT_DIR/TAG.json; leave an atexit and a thread."""
    import atexit
    import json
    import os
    import sys
    import tempfile
    import threading
    import time
    from pathlib import Path

    import numpy

    out = Path(out_dir)
    atexit.register(lambda: (out / f"{tag}.atexit").write_text("ran"))

    def late() -> None:
        time.sleep(0.3)
        (out / f"{tag}.thread").write_text("ran")

    threading.Thread(target=late).start()
    print(f"probe {tag} on stdout")
    print(f"probe {tag} on stderr", file=sys.stderr)
    facts = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "pgid": os.getpgid(0),
        "cwd": os.getcwd(),
        "probe_env": os.environ.get("PROBE"),
        "kfp_runtime": os.environ.get("_KFP_RUNTIME"),
        "tmp": tempfile.gettempdir(),
        "random": float(numpy.random.rand()),
        "path": sys.path[:2],
    }
    (out / f"{tag}.json").write_text(json.dumps(facts))
    return tag


@dsl.component(base_image="python:3.11")
def finish(how: str):
    """End the way HOW says: normally, raise, exit 7, or SIGKILL itself."""
    import os
    import signal
    import sys

    if how == "raise":
        raise ValueError("probe failure: boom")
    if how == "exit":
        sys.exit(7)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)


@dsl.pipeline(name="probe-tasks")
def probe_pipeline(out_dir: str, how: str = "none"):
    first = probe(out_dir=out_dir, tag="a")
    first.set_env_variable("PROBE", "from-the-spec")
    second = probe(out_dir=out_dir, tag="b").after(first)
    finish(how=how).after(second)


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "probe.yaml"
    compiler.Compiler().compile(probe_pipeline, str(path))
    return path


def _run_env(run_dir: Path) -> dict[str, str]:
    (run_dir / "tmp").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(run_dir / "tmp"), "PYTHONUNBUFFERED": "1"}
    env.pop("KFP_MLOPS_WARM_SOCKET", None)
    env.pop("OMP_NUM_THREADS", None)  # the OpenMP tests below set it for one task
    return env


def _run(spec: Path, run_dir: Path, how: str, warm: bool) -> tuple[int, str, dict, int | None]:
    """Run the probe spec as run-local does; return (exit code, log, facts by tag, runner pid)."""
    out = run_dir / "out"
    out.mkdir(parents=True)
    (run_dir / "params.json").write_text(json.dumps({"out_dir": str(out), "how": how}))
    hand_retries_to_worker(spec, run_dir)
    env = _run_env(run_dir)
    with WarmRunner(run_dir, env) if warm else nullcontext() as runner:
        if runner:
            assert runner.env, (run_dir / "warm.log").read_text()
        proc = subprocess.run(
            [sys.executable, "-m", "kfp_mlops.runs.local", str(spec), str(run_dir)],
            env=env | (runner.env if runner else {}),
            capture_output=True,
            text=True,
            timeout=300,
        )
    facts = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    files = {p.name for p in out.iterdir()}
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    return proc.returncode, log, facts | {"files": files}, runner.proc.pid if runner else None


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_warm_tasks_probe_sees_spec_env_streams_tmpdir_and_exits_cleanly(spec, tmp_path, warm):
    code, log, facts, runner_pid = _run(spec, tmp_path / "run", "none", warm)
    assert code == 0, log
    a, b = facts["a"], facts["b"]
    if warm:
        # Forked by the runner, in its own process group: the warm path really ran.
        assert a["ppid"] == runner_pid and b["ppid"] == runner_pid
        assert a["pgid"] == a["pid"]
        assert (tmp_path / "run" / "bin" / "python").exists()
    else:
        assert a["ppid"] != runner_pid
    assert a["probe_env"] == "from-the-spec" and b["probe_env"] is None
    assert a["kfp_runtime"] == "true"
    assert a["tmp"] == str(tmp_path / "run" / "tmp")
    # kfp's executor puts the component's own folder (mktemp, in TMPDIR) before `-m`'s cwd.
    assert a["cwd"] == os.getcwd()
    assert a["path"][0].startswith(a["tmp"]) and a["path"][1] == os.getcwd()
    assert a["random"] != b["random"], "two tasks drew the same numpy random numbers"
    assert {"a.atexit", "a.thread", "b.atexit", "b.thread"} <= facts["files"]
    for line in ("probe a on stdout", "probe a on stderr", "probe b on stdout"):
        assert line in log
    assert "Task 'finish' finished with status SUCCESS" in log


@pytest.mark.parametrize("how", ["raise", "exit", "kill"])
def test_warm_tasks_failing_task_fails_the_run_as_cold(spec, tmp_path, how):
    code, log, _, _ = _run(spec, tmp_path / "run", how, warm=True)
    assert code == 0  # kfp.local ran; raise_on_error=False records the failure in the log
    assert "Task 'finish' finished with status FAILURE" in log
    if how == "raise":
        assert "ValueError: probe failure: boom" in log


# The shim on kfp's own executor, without kfp.local: exact exit codes and signals.
TASK_ENV = {"_KFP_RUNTIME": "true"}
FINISH_MODULE = """
from kfp import dsl

def finish(how: str):
    import os, signal, sys, time
    if how == "exit":
        sys.exit(7)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "wait":
        print("waiting", flush=True)
        time.sleep(60)
"""


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("warm")
    env = _run_env(run_dir)
    with WarmRunner(run_dir, env) as started:
        assert started.env, (run_dir / "warm.log").read_text()
        write_shim(run_dir)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("KFP_MLOPS_WARM_SOCKET", started.env["KFP_MLOPS_WARM_SOCKET"])
            yield started, run_dir


def _shim_cmd(run_dir: Path, how: str) -> list[str]:
    return _executor_cmd(run_dir, FINISH_MODULE, "finish", {"how": how}, f"out-{how}.json")


def _executor_cmd(run_dir: Path, source: str, function: str, params: dict, out: str) -> list[str]:
    """The shim running kfp's executor on FUNCTION (defined in SOURCE) with PARAMS."""
    module = run_dir / f"{function}_module.py"
    module.write_text(source)
    executor_input = {
        "inputs": {"parameterValues": params},
        "outputs": {"outputFile": str(run_dir / out)},
    }
    return [
        str(run_dir / "bin" / "python"),
        "-m",
        "kfp.dsl.executor_main",
        "--component_module_path",
        str(module),
        "--executor_input",
        json.dumps(executor_input),
        "--function_to_execute",
        function,
    ]


@pytest.mark.parametrize(("how", "expected"), [("none", 0), ("exit", 7), ("kill", -signal.SIGKILL)])
def test_warm_tasks_shim_exits_as_the_task_did(runner, how, expected):
    _, run_dir = runner
    proc = subprocess.run(
        _shim_cmd(run_dir, how),
        capture_output=True,
        text=True,
        env=os.environ | {"_KFP_RUNTIME": "true"},
    )
    assert proc.returncode == expected, proc.stderr
    assert "started: finish" in (run_dir / "warm.log").read_text()


def test_warm_tasks_shim_forwards_sigterm_and_dies_of_it(runner):
    _, run_dir = runner
    proc = subprocess.Popen(
        _shim_cmd(run_dir, "wait"),
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"_KFP_RUNTIME": "true"},
    )
    for line in proc.stdout:
        if "waiting" in line:
            break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM


def test_warm_tasks_no_runner_reachable_runs_the_task_cold(runner, tmp_path, monkeypatch):
    _, run_dir = runner
    monkeypatch.setenv("KFP_MLOPS_WARM_SOCKET", str(tmp_path / "nothing-listens.sock"))
    before = (run_dir / "warm.log").read_text().count("started:")
    proc = subprocess.run(_shim_cmd(run_dir, "exit"), capture_output=True, text=True)
    assert proc.returncode == 7, proc.stderr
    assert (run_dir / "warm.log").read_text().count("started:") == before


def test_warm_tasks_runner_socket_is_private_and_refuses_anything_but_a_task(runner):
    started, run_dir = runner
    path = Path(started.env["KFP_MLOPS_WARM_SOCKET"])
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    request = json.dumps({"args": ["-c", "print('not a task')"], "cwd": "/", "env": {}}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        socket.send_fds(sock, [struct.pack("!Q", len(request))], [0, 1, 2])
        sock.sendall(request)
        sock.settimeout(30)
        assert sock.recv(100) == b"", "the runner answered a request that is not a task"
    deadline = time.monotonic() + 10
    while "refused a request" not in (run_dir / "warm.log").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    said = "only `-m kfp.dsl.executor_main` and parameter checks run here"
    assert said in (run_dir / "warm.log").read_text()


def _children() -> set[int]:
    found = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        found |= {int(pid) for pid in (task / "children").read_text().split()}
    return found


def test_warm_tasks_usage_error_leaves_no_run_folder_and_no_runner(cli, stack):
    runs = stack.home / "runs"
    before = set(runs.iterdir()) if runs.exists() else set()
    children = _children()
    code, _, err = cli("run-local", "training", "-p", "test_size=2")
    assert code == 2 and "test_size" in err
    assert (set(runs.iterdir()) if runs.exists() else set()) == before
    assert _children() <= children, "the warm runner outlived a run that never started"


# OpenMP in warm tasks: scikit-learn's HistGradientBoosting runs libgomp parallel regions.
OPENMP_MODULE = """
from kfp import dsl

def fit(report: str):
    import json, os
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_info

    rows = np.random.default_rng(0).normal(size=(400, 4))
    HistGradientBoostingClassifier(max_iter=20).fit(rows, rows[:, 0] > 0)
    threads = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "openmp"]
    with open(report, "w") as f:
        json.dump({"ppid": os.getppid(), "openmp_threads": threads}, f)
"""


def _fit(run_dir: Path, tag: str, env: dict[str, str]) -> dict:
    report = run_dir / f"fit-{tag}.json"
    cmd = _executor_cmd(run_dir, OPENMP_MODULE, "fit", {"report": str(report)}, f"out-{tag}.json")
    # A task forked after the runner ran an OpenMP region waits forever at a barrier.
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return json.loads(report.read_text())


def test_warm_tasks_fit_with_openmp_one_after_another(runner):
    started, run_dir = runner
    env = os.environ | TASK_ENV
    first, second = _fit(run_dir, "first", env), _fit(run_dir, "second", env)
    assert first["ppid"] == second["ppid"] == started.proc.pid, "not forked by the runner"
    assert first["openmp_threads"] and first["openmp_threads"] == second["openmp_threads"]


def test_warm_tasks_task_that_sets_openmp_otherwise_runs_cold_and_gets_its_setting(runner):
    started, run_dir = runner
    fit = _fit(run_dir, "one-thread", os.environ | TASK_ENV | {"OMP_NUM_THREADS": "1"})
    # libgomp read OMP_NUM_THREADS when the runner loaded it: a fork would keep the runner's.
    assert fit["ppid"] != started.proc.pid
    assert fit["openmp_threads"] == [1]
    log = (run_dir / "warm.log").read_text()
    assert "task runs cold: its environment sets OMP_NUM_THREADS otherwise" in log


def test_warm_tasks_threads_env_waits_passively_unless_told_and_names_what_differs():
    from kfp_mlops.runs.threads import differs, task_env

    assert task_env({"PATH": "/bin"}) == {"PATH": "/bin", "OMP_WAIT_POLICY": "PASSIVE"}
    for told in ({"OMP_WAIT_POLICY": "active"}, {"GOMP_SPINCOUNT": "300000"}):
        assert task_env(told) == told
    runner = {"OMP_WAIT_POLICY": "PASSIVE", "HOME": "/root"}
    assert differs({"OMP_WAIT_POLICY": "PASSIVE", "HOME": "/tmp"}, runner) == []
    assert differs({"OMP_WAIT_POLICY": "PASSIVE", "MKL_NUM_THREADS": "1"}, runner) == [
        "MKL_NUM_THREADS"
    ]
    assert differs({}, runner) == ["OMP_WAIT_POLICY"]
    # scikit-learn sets these when imported; no runtime in the lock reads them.
    assert differs({**runner, "KMP_INIT_AT_FORK": "FALSE"}, runner) == []


def test_warm_tasks_run_local_runner_and_tasks_get_the_wait_policy(tmp_path, monkeypatch):
    from kfp_mlops.runs.local import LocalRun

    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("KFP_MLOPS_WARM_TASKS", raising=False)
    with LocalRun("training", tmp_path) as run:
        environ = Path(f"/proc/{run.runner.proc.pid}/environ").read_bytes().split(b"\0")
    assert b"OMP_WAIT_POLICY=PASSIVE" in environ


def test_warm_tasks_run_local_training_forks_every_task(stack):
    """The CLI in its own process: what it imports before the tasks must not send them cold."""
    env = os.environ | {
        "KFP_MLOPS_HOME": str(stack.home),
        "KFP_MLOPS_S3_PORT": str(stack.s3_port),
        "KFP_MLOPS_MLFLOW_PORT": str(stack.mlflow_port),
    }
    for name in ("KFP_MLOPS_WARM_TASKS", "KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK"):
        env.pop(name, None)  # as a new shell has them: scikit-learn sets the KMP_ pair
    params = REPO / "examples" / "training-german-credit.yaml"
    data = REPO / "data" / "german_credit.csv"
    cmd = [sys.executable, "-m", "kfp_mlops.cli.main", "run-local", "training", "--output"]
    cmd += ["json", "--params", str(params), "-p", f"data_uri={data}"]
    cmd += ["-p", "model_name=warm-tasks-forked"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    summary = json.loads(proc.stdout)
    assert summary["status"] == "succeeded", proc.stderr[-3000:]
    warm_log = (Path(summary["run_dir"]) / "warm.log").read_text()
    assert "runs cold" not in warm_log
    forked = re.findall(r"task \d+ started: (\w+)", warm_log)
    assert {"load_data", "train_model", "register_model"} <= set(forked), warm_log
