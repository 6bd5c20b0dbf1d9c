"""The embedded stack with real SeaweedFS and MLflow processes on free ports."""

import io
import json
import os
import re
import socket
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import free_port
from minio.error import S3Error

from components._shared.errors import ConfigError, ServiceError
from components._shared.io import s3_client
from components._shared.settings import S3Settings
from kfp_mlops.stack import ARTIFACT_BUCKET, DATA_BUCKET, Stack


def _quiet(_line: str) -> None:
    pass


def _client(st: Stack, access_key: str, secret_key: str):
    settings = S3Settings(f"127.0.0.1:{st.s3_port}", False, access_key, secret_key, "us-east-1")
    return s3_client(settings)


def _own_client(st: Stack):
    env = st.env()
    return _client(st, env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])


def _group_pids(pgid: int) -> set[int]:
    """Every live process in a process group (from /proc)."""
    pids = set()
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.add(int(stat_file.parent.name))
    return pids


def _listening(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP listener that one of these processes holds, from `ss`."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        if {int(p) for p in re.findall(r"pid=(\d+)", line)} & pids:
            address, _, port = line.split()[3].rpartition(":")
            found.append((address, int(port)))
    return found


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One started stack shared by the tests that only look at it (MLflow takes ~15+ s)."""
    st = Stack(
        home=tmp_path_factory.mktemp("stack-home"), s3_port=free_port(), mlflow_port=free_port()
    )
    lines: list[str] = []
    st.up(log=lines.append)
    try:
        yield st, lines
    finally:
        st.down(log=_quiet)


@pytest.mark.stack
def test_stack_up_both_services_answer_and_buckets_exist(running):
    st, lines = running
    status = st.status()
    for name, url in (("seaweedfs", st.s3_url), ("mlflow", st.mlflow_url)):
        assert status[name]["running"] and status[name]["answering"], status
        assert isinstance(status[name]["pid"], int)
        assert status[name]["url"] == url
    client = _own_client(st)
    assert client.bucket_exists(DATA_BUCKET)
    assert client.bucket_exists(ARTIFACT_BUCKET)
    assert any(line.startswith(f"starting SeaweedFS on {st.s3_url}") for line in lines)
    assert any(line.startswith("MLflow answering after") for line in lines)


@pytest.mark.stack
def test_stack_s3_put_get_roundtrip_with_stack_credentials(running):
    st, _ = running
    client = _own_client(st)
    payload = b"risk,age\n1,30\n"
    client.put_object(DATA_BUCKET, "roundtrip/data.csv", io.BytesIO(payload), len(payload))
    response = client.get_object(DATA_BUCKET, "roundtrip/data.csv")
    try:
        assert response.read() == payload
    finally:
        response.close()
        response.release_conn()


@pytest.mark.stack
def test_stack_s3_refuses_wrong_credentials(running):
    st, _ = running
    access_key = st.env()["AWS_ACCESS_KEY_ID"]
    for key, secret in ((access_key, "not-the-secret"), ("NOSUCHKEY", "not-the-secret")):
        with pytest.raises(S3Error) as refused:
            _client(st, key, secret).list_buckets()
        assert refused.value.code in {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied"}


@pytest.mark.stack
def test_stack_mlflow_artifact_is_proxied_into_the_s3_bucket(running, monkeypatch):
    from mlflow import MlflowClient

    st, _ = running
    # The client gets no S3 credentials: the artifact can only reach S3 through the server.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    client = MlflowClient(tracking_uri=st.mlflow_url)
    experiment_id = client.create_experiment(f"stack-test-{uuid.uuid4().hex[:8]}")
    run = client.create_run(experiment_id)
    client.log_text(run.info.run_id, "proxied through the server", "notes/hello.txt")
    client.set_terminated(run.info.run_id)

    s3 = _own_client(st)
    keys = [
        o.object_name
        for o in s3.list_objects(ARTIFACT_BUCKET, prefix=f"{experiment_id}/", recursive=True)
    ]
    [key] = [k for k in keys if k.endswith(f"{run.info.run_id}/artifacts/notes/hello.txt")]
    response = s3.get_object(ARTIFACT_BUCKET, key)
    try:
        assert response.read() == b"proxied through the server"
    finally:
        response.close()
        response.release_conn()


@pytest.mark.stack
def test_stack_up_twice_keeps_processes_and_credentials(running):
    st, _ = running
    pids = {name: s["pid"] for name, s in st.status().items()}
    credentials = (st.home / "credentials.env").read_text()
    lines: list[str] = []
    st.up(log=lines.append)
    assert {name: s["pid"] for name, s in st.status().items()} == pids
    assert (st.home / "credentials.env").read_text() == credentials
    # Nothing to do: one line, not one per service.
    assert lines == [
        f"stack already up: S3 {st.s3_url}, MLflow {st.mlflow_url}, state in {st.home}"
    ]


@pytest.mark.stack
def test_stack_listens_only_on_loopback_and_on_recorded_ports(running):
    st, _ = running
    status = st.status()
    weed = _listening(_group_pids(status["seaweedfs"]["pid"]))
    mlflow_group = _group_pids(status["mlflow"]["pid"])
    mlflow = _listening(mlflow_group)
    assert (("127.0.0.1", st.s3_port)) in weed
    assert mlflow == [("127.0.0.1", st.mlflow_port)]
    assert {address for address, _ in weed} == {"127.0.0.1"}
    recorded = json.loads((st.home / "ports.json").read_text())["seaweedfs"]
    # No default port (9333, 23646, 8181, 7333 ...) opened behind our back.
    assert {port for _, port in weed} <= set(recorded.values())
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in mlflow_group]
    assert not any(b"huey" in command for command in commands)


@pytest.mark.stack
def test_stack_credentials_private_and_secret_never_shown(running):
    st, lines = running
    secret = st.env()["AWS_SECRET_ACCESS_KEY"]
    for private in ("credentials.env", "s3.json"):
        assert stat.S_IMODE((st.home / private).stat().st_mode) == 0o600
    shown = ["\n".join(lines), json.dumps(st.status()), (st.home / "ports.json").read_text()]
    shown += [p.read_text(errors="replace") for p in (st.home / "logs").rglob("*") if p.is_file()]
    status = st.status()
    shown += [Path(f"/proc/{s['pid']}/cmdline").read_bytes().decode() for s in status.values()]
    assert len(shown) > 5
    assert not [text for text in shown if secret in text]


@pytest.mark.stack
def test_stack_env_points_at_this_stack(running):
    st, _ = running
    env = st.env()
    assert env["AWS_ENDPOINT_URL_S3"] == f"http://127.0.0.1:{st.s3_port}"
    assert env["MLFLOW_TRACKING_URI"] == f"http://127.0.0.1:{st.mlflow_port}"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert env["AWS_ACCESS_KEY_ID"] and len(env["AWS_SECRET_ACCESS_KEY"]) >= 32


def _put(st: Stack, key: str, payload: bytes) -> None:
    _own_client(st).put_object(DATA_BUCKET, key, io.BytesIO(payload), len(payload))


def _get(st: Stack, key: str) -> bytes:
    response = _own_client(st).get_object(DATA_BUCKET, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


@pytest.mark.stack
def test_stack_kill_seaweedfs_then_up_restarts_it_alone_on_its_ports_with_its_data(running):
    st, _ = running
    _put(st, "kill/kept.txt", b"written before the kill")
    before = st.status()
    ports = json.loads((st.home / "ports.json").read_text())
    lines: list[str] = []
    st.kill("seaweedfs", log=lines.append)
    assert lines == [f"SeaweedFS killed (pid {before['seaweedfs']['pid']})"]
    assert not _group_pids(before["seaweedfs"]["pid"]), "the whole group is gone"
    down = st.status()
    assert not down["seaweedfs"]["running"] and not down["seaweedfs"]["answering"]
    assert down["mlflow"]["pid"] == before["mlflow"]["pid"] and down["mlflow"]["answering"]

    st.up(log=_quiet)
    after = st.status()
    assert after["seaweedfs"]["answering"] and after["seaweedfs"]["url"] == st.s3_url
    assert after["seaweedfs"]["pid"] != before["seaweedfs"]["pid"]
    assert after["mlflow"]["pid"] == before["mlflow"]["pid"], "MLflow was not restarted"
    assert json.loads((st.home / "ports.json").read_text()) == ports
    assert _get(st, "kill/kept.txt") == b"written before the kill"


@pytest.mark.stack
def test_stack_kill_mlflow_then_up_restarts_it_alone_with_its_registry(running):
    from mlflow import MlflowClient

    st, _ = running
    name = f"kept-{uuid.uuid4().hex[:8]}"
    MlflowClient(tracking_uri=st.mlflow_url).create_registered_model(name)
    before = st.status()
    assert _group_pids(before["mlflow"]["pid"])
    st.kill("mlflow", log=_quiet)
    assert not _group_pids(before["mlflow"]["pid"]) and not st.status()["mlflow"]["answering"]
    assert st.status()["seaweedfs"]["pid"] == before["seaweedfs"]["pid"]

    st.up(log=_quiet)
    after = st.status()
    assert after["mlflow"]["answering"] and after["mlflow"]["pid"] != before["mlflow"]["pid"]
    assert after["seaweedfs"]["pid"] == before["seaweedfs"]["pid"]
    client = MlflowClient(tracking_uri=st.mlflow_url)
    assert client.get_registered_model(name).name == name


def test_stack_kill_unknown_service_lists_the_known_ones_and_idle_one_says_not_running(tmp_path):
    st = Stack(home=tmp_path, s3_port=free_port(), mlflow_port=free_port())
    known = r"\['alertmanager', 'mlflow', 'prometheus', 'pushgateway', 'seaweedfs'\]"
    with pytest.raises(ConfigError, match=rf"unknown service 'redis'; expected one of {known}"):
        st.kill("redis")
    lines: list[str] = []
    st.kill("mlflow", log=lines.append)
    assert lines == ["MLflow not running"]


@pytest.mark.stack
def test_stack_down_stops_its_processes_and_second_down_is_harmless(tmp_path):
    st = Stack(home=tmp_path / "home", s3_port=free_port(), mlflow_port=free_port())
    st.up(log=_quiet)
    groups = {name: s["pid"] for name, s in st.status().items()}
    assert all(_group_pids(pgid) for pgid in groups.values())
    lines: list[str] = []
    st.down(log=lines.append)
    assert not any(_group_pids(pgid) for pgid in groups.values())
    assert not list(st.home.glob("*.pid"))
    status = st.status()
    assert not any(s["running"] or s["answering"] for s in status.values()), status
    assert lines[0] == f"stopping MLflow (pid {groups['mlflow']}) ..."
    again: list[str] = []
    st.down(log=again.append)
    assert again == ["MLflow not running", "SeaweedFS not running"]


@pytest.mark.parametrize(
    ("taken", "variable"), [("s3", "KFP_MLOPS_S3_PORT"), ("mlflow", "KFP_MLOPS_MLFLOW_PORT")]
)
def test_stack_up_port_taken_by_another_process_clear_error(tmp_path, taken, variable):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        ports = {"s3_port": free_port(), "mlflow_port": free_port(), f"{taken}_port": port}
        st = Stack(home=tmp_path / "home", **ports)
        message = (
            rf"port {port} on 127\.0\.0\.1 is in use by another process; stop it or set {variable}"
        )
        with pytest.raises(ServiceError, match=message):
            st.up(log=_quiet)
    assert not list(st.home.glob("*.pid")), "nothing may start when a port is taken"


def test_stack_up_weed_missing_clear_error(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    st = Stack(home=tmp_path / "home", s3_port=free_port(), mlflow_port=free_port(), bin_dir=empty)
    with pytest.raises(ServiceError, match=r"weed not found \(looked in .*\); run `make install`"):
        st.up(log=_quiet)


def test_stack_up_mlflow_missing_clear_error(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "weed").symlink_to(Path(sys.executable).parent / "weed")
    st = Stack(
        home=tmp_path / "home", s3_port=free_port(), mlflow_port=free_port(), bin_dir=bin_dir
    )
    with pytest.raises(ServiceError, match=r"mlflow not found .*run `make install`"):
        st.up(log=_quiet)
    assert not list(st.home.glob("*.pid"))


def test_stack_service_that_dies_at_start_reports_its_log_tail(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "weed").write_text("#!/bin/sh\necho 'weed: cannot open data folder' >&2\nexit 3\n")
    (bin_dir / "weed").chmod(0o755)
    (bin_dir / "mlflow").symlink_to(Path(sys.executable).parent / "mlflow")
    st = Stack(
        home=tmp_path / "home", s3_port=free_port(), mlflow_port=free_port(), bin_dir=bin_dir
    )
    expected = (
        r"(?s)SeaweedFS exited during start-up on http://127\.0\.0\.1:\d+; see .*seaweedfs\.log:"
    )
    with pytest.raises(ServiceError, match=expected + r"\nweed: cannot open data folder"):
        st.up(log=_quiet)
    assert not list(st.home.glob("*.pid"))


def test_stack_stale_or_foreign_pid_file_is_dropped_and_never_signalled(tmp_path):
    st = Stack(home=tmp_path, s3_port=free_port(), mlflow_port=free_port())
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / "seaweedfs.pid").write_text(f"{gone.stdout.strip()} 12345\n")
    # A live pid that is not ours (this very test process): its start time does not match.
    (tmp_path / "mlflow.pid").write_text(f"{os.getpid()} 1\n")
    status = st.status()
    assert not status["seaweedfs"]["running"] and not status["mlflow"]["running"]
    assert not list(tmp_path.glob("*.pid"))
    (tmp_path / "mlflow.pid").write_text(f"{os.getpid()} 1\n")
    lines: list[str] = []
    st.down(log=lines.append)  # this process survives: the foreign pid is never signalled
    assert lines == ["MLflow not running", "SeaweedFS not running"]


def test_stack_from_env_reads_home_and_ports(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("KFP_MLOPS_HOME", "KFP_MLOPS_S3_PORT", "KFP_MLOPS_MLFLOW_PORT"):
        monkeypatch.delenv(name, raising=False)
    default = Stack.from_env()
    assert (default.home, default.s3_port, default.mlflow_port) == (
        tmp_path / ".kfp-mlops",
        8333,
        5000,
    )
    monkeypatch.setenv("KFP_MLOPS_HOME", "state")
    monkeypatch.setenv("KFP_MLOPS_S3_PORT", "18333")
    monkeypatch.setenv("KFP_MLOPS_MLFLOW_PORT", "15000")
    st = Stack.from_env()
    assert (st.home, st.s3_url, st.mlflow_url) == (
        tmp_path / "state",
        "http://127.0.0.1:18333",
        "http://127.0.0.1:15000",
    )


@pytest.mark.parametrize("raw", ["abc", "0", "70000", "-1"])
def test_stack_from_env_rejects_a_port_that_is_not_one(monkeypatch, raw):
    monkeypatch.setenv("KFP_MLOPS_MLFLOW_PORT", raw)
    expected = rf"KFP_MLOPS_MLFLOW_PORT='{raw}' is not a TCP port; expected a number from 1 to"
    with pytest.raises(ConfigError, match=expected):
        Stack.from_env()


def test_stack_env_before_first_up_says_to_start_it(tmp_path):
    with pytest.raises(ServiceError, match=r"has no credentials; run `kfp-mlops stack up`"):
        Stack(home=tmp_path).env()


def test_stack_env_exports_let_a_fresh_shell_reach_the_stack(cli):
    code, out, _ = cli("stack", "env")
    assert code == 0
    assert all(line.startswith("export ") for line in out.splitlines())
    probe = (
        "from mlflow import MlflowClient; from components._shared.io import s3_client; "
        "print(s3_client().bucket_exists('kfp-mlops-data'), "
        "len(MlflowClient().search_experiments()) >= 1)"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
    shell = f'eval "$EXPORTS"; exec {sys.executable} -c "{probe}"'
    done = subprocess.run(
        ["bash", "-c", shell],
        env={**clean, "EXPORTS": out},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
