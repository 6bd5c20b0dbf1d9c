"""The embedded stack: SeaweedFS (S3) and an MLflow tracking server on 127.0.0.1 for local runs."""

import json
import os
import secrets
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from components._shared.errors import ConfigError, ServiceError, one_of
from components._shared.io import s3_client
from components._shared.settings import S3Settings
from pipelines._processes import OwnedProcess, port_in_use, write_private
from pipelines._seaweedfs import wait_ready, weed_ports

DATA_BUCKET = "kfp-mlops-data"
ARTIFACT_BUCKET = "mlflow"
HOST = "127.0.0.1"
REGION = "us-east-1"
HOME_ENV = "KFP_MLOPS_HOME"
S3_PORT_ENV = "KFP_MLOPS_S3_PORT"
MLFLOW_PORT_ENV = "KFP_MLOPS_MLFLOW_PORT"
DEFAULT_HOME = ".kfp-mlops"
S3_TIMEOUT_S = 30.0  # weed mini answers in < 1 s
# MLflow takes 11-23 s on an idle laptop and was seen at 77 s on a busy 2-core one (creating
# a new sqlite db is most of it); a crash is caught at once, so a long timeout costs nothing.
MLFLOW_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 15.0
S3_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]
AWS_KEY_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
UP_HINT = "run `kfp-mlops stack up`"
# Service name -> (title for humans, env var that moves its user-facing port), in start order.
SERVICES = {"seaweedfs": ("SeaweedFS", S3_PORT_ENV), "mlflow": ("MLflow", MLFLOW_PORT_ENV)}
# Requests to 127.0.0.1 never go through an HTTP proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Log = Callable[[str], None]


class Stack:
    """SeaweedFS + MLflow processes owned by one state folder (data, pids, logs, credentials)."""

    def __init__(
        self, home: Path, s3_port: int = 8333, mlflow_port: int = 5000, bin_dir: Path | None = None
    ):
        """Describe a stack; nothing starts until `up`.

        Args:
            home: State folder (SeaweedFS data, MLflow db, credentials, pid files, logs).
            s3_port: S3 endpoint port on 127.0.0.1.
            mlflow_port: MLflow tracking server port on 127.0.0.1.
            bin_dir: Where `weed` and `mlflow` are; default: beside this Python, then PATH.
        """
        self.home = Path(home).absolute()
        self.s3_port = s3_port
        self.mlflow_port = mlflow_port
        self.bin_dir = Path(bin_dir) if bin_dir is not None else None
        self._procs = {
            name: OwnedProcess(self.home / f"{name}.pid", self._log_file(name)) for name in SERVICES
        }

    @classmethod
    def from_env(cls) -> "Stack":
        """The stack that KFP_MLOPS_HOME, KFP_MLOPS_S3_PORT and KFP_MLOPS_MLFLOW_PORT describe."""
        return cls(
            home=Path(os.environ.get(HOME_ENV) or DEFAULT_HOME),
            s3_port=_port_from_env(S3_PORT_ENV, 8333),
            mlflow_port=_port_from_env(MLFLOW_PORT_ENV, 5000),
        )

    @property
    def s3_url(self) -> str:
        """The S3 endpoint."""
        return f"http://{HOST}:{self.s3_port}"

    @property
    def mlflow_url(self) -> str:
        """The MLflow tracking URI."""
        return f"http://{HOST}:{self.mlflow_port}"

    def up(self, log: Log = print) -> None:
        """Start what is not running, wait until both services answer, create the buckets."""
        binaries = {"seaweedfs": self._binary("weed"), "mlflow": self._binary("mlflow")}
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.home / "logs").mkdir(exist_ok=True, mode=0o700)
        self._credentials(create=True)
        running = {name: proc.pid() for name, proc in self._procs.items()}
        for name, pid in running.items():  # every check before anything starts
            self._check_port(name, pid)
        already = all(pid is not None for pid in running.values())
        outer, log = log, (lambda _msg: None) if already else log  # one line when nothing to do
        for name, pid in running.items():
            title, started = SERVICES[name][0], time.monotonic()
            if pid is None:
                log(f"starting {title} on {self._url(name)} ...")
                make = self._weed if name == "seaweedfs" else self._mlflow
                command, env = make(binaries[name])
                pid = self._procs[name].start(command, env, cwd=self.home)
            else:
                log(f"{title} already running on {self._url(name)} (pid {pid})")
            self._wait(name, pid, started, log)
            if name == "seaweedfs":
                self._ensure_buckets(log)
        state = "already up" if already else "up"
        outer(f"stack {state}: S3 {self.s3_url}, MLflow {self.mlflow_url}, state in {self.home}")

    def down(self, log: Log = print) -> None:
        """Stop the processes this state folder started (MLflow first: it writes to S3)."""
        for name in reversed(SERVICES):
            title, pid = SERVICES[name][0], self._procs[name].pid()
            if pid is None:
                log(f"{title} not running")
                continue
            log(f"stopping {title} (pid {pid}) ...")
            outcome = self._procs[name].stop(STOP_TIMEOUT_S)
            log(f"{title} {outcome or 'stopped'}")

    def kill(self, name: str, log: Log = print) -> None:
        """SIGKILL one service's whole process group, as a crash would (fault tests).

        Its data, credentials and ports stay: `up` starts it again on the same ports and state.

        Args:
            name: "seaweedfs" or "mlflow".
            log: Where to say what happened.
        """
        if name not in SERVICES:
            raise one_of("service", name, SERVICES)
        pid = self._procs[name].kill()
        title = SERVICES[name][0]
        log(f"{title} killed (pid {pid})" if pid is not None else f"{title} not running")

    def status(self) -> dict:
        """Per service: running, pid, url, answering, log file."""
        return {
            name: {
                "running": (pid := proc.pid()) is not None,
                "pid": pid,
                "url": self._url(name),
                "answering": self._answering(name),
                "log": str(proc.log_file),
            }
            for name, proc in self._procs.items()
        }

    def env(self) -> dict[str, str]:
        """The variables that point components, MLflow and boto3 at this stack."""
        access_key, secret_key = self._credentials(create=False)
        return {
            "AWS_ENDPOINT_URL_S3": self.s3_url,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }

    def _url(self, name: str) -> str:
        return self.s3_url if name == "seaweedfs" else self.mlflow_url

    def _log_file(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def _binary(self, name: str) -> Path:
        if self.bin_dir is not None:
            candidates, where = [self.bin_dir / name], str(self.bin_dir)
        else:
            beside = Path(sys.executable).parent  # the venv's bin, even when python is a symlink
            candidates, where = [beside / name], f"{beside} and on PATH"
            candidates += [Path(found)] if (found := shutil.which(name)) else []
        for path in candidates:
            if path.is_file() and os.access(path, os.X_OK):
                return path
        raise ServiceError(f"{name} not found (looked in {where}); run `make install`")

    def _credentials(self, create: bool) -> tuple[str, str]:
        path = self.home / "credentials.env"
        if not path.exists():
            if not create:
                raise ServiceError(f"the stack in {self.home} has no credentials; {UP_HINT}")
            access_key = "KFP" + secrets.token_hex(8).upper()
            secret_key = secrets.token_urlsafe(30)
            write_private(path, f"{AWS_KEY_VARS[0]}={access_key}\n{AWS_KEY_VARS[1]}={secret_key}\n")
        values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        if not all(values.get(key) for key in AWS_KEY_VARS):
            raise ServiceError(f"{path} is incomplete; stop the stack, delete it, {UP_HINT}")
        return values[AWS_KEY_VARS[0]], values[AWS_KEY_VARS[1]]

    def _recorded_ports(self) -> dict:
        path = self.home / "ports.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _record_ports(self, name: str, ports: dict[str, int]) -> None:
        recorded = {**self._recorded_ports(), name: ports}
        (self.home / "ports.json").write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")

    def _check_port(self, name: str, pid: int | None) -> None:
        title, env_name = SERVICES[name]
        port = self.s3_port if name == "seaweedfs" else self.mlflow_port
        if pid is None and port_in_use(HOST, port):
            raise ServiceError(
                f"port {port} on {HOST} is in use by another process; stop it or set {env_name}"
            )
        recorded = self._recorded_ports().get(name, {}).get("port")
        if pid is not None and recorded not in (None, port):
            raise ServiceError(
                f"{title} is already running on port {recorded} (pid {pid}); "
                f"run `kfp-mlops stack down` before moving it to {env_name}={port}"
            )

    def _weed(self, binary: Path) -> tuple[list[str], dict[str, str]]:
        access_key, secret_key = self._credentials(create=False)
        credentials = [{"accessKey": access_key, "secretKey": secret_key}]
        identity = {"name": "kfp-mlops", "credentials": credentials, "actions": S3_ACTIONS}
        write_private(self.home / "s3.json", json.dumps({"identities": [identity]}))
        taken = {self.s3_port, self.mlflow_port}
        recorded = self._recorded_ports().get("seaweedfs", {})
        internal = weed_ports(HOST, recorded, self.s3_port, taken)
        self._record_ports("seaweedfs", {"port": self.s3_port, **internal})
        (self.home / "seaweedfs").mkdir(exist_ok=True)
        (self.home / "logs" / "seaweedfs").mkdir(exist_ok=True)
        flags: dict[str, object] = {
            "ip": HOST,
            "ip.bind": HOST,
            "dir": self.home / "seaweedfs",
            "s3.port": self.s3_port,
            **internal,
            "s3.config": self.home / "s3.json",
            "s3.iam": "false",
            "s3.port.iceberg": 0,
            "s3.port.lance": 0,
            "webdav": "false",
            "admin.ui": "false",  # the admin server itself always runs (on its recorded ports)
            "master.telemetry": "false",
        }
        if len(str(self.home)) < 80:  # unix socket paths are capped at 107 bytes: else /tmp
            flags["filer.localSocket"] = self.home / "filer.sock"
            flags["s3.localSocket"] = self.home / "s3.sock"
        command = [str(binary), f"-logdir={self.home / 'logs' / 'seaweedfs'}", "mini"]
        command += [f"-{key}={value}" for key, value in flags.items()]
        # weed mini turns AWS_* keys in its environment into one more admin identity: give it none.
        env = {key: value for key, value in os.environ.items() if key not in AWS_KEY_VARS}
        return command, env

    def _mlflow(self, binary: Path) -> tuple[list[str], dict[str, str]]:
        self._record_ports("mlflow", {"port": self.mlflow_port})
        command = [str(binary), "server", "--host", HOST, "--port", str(self.mlflow_port)]
        command += ["--backend-store-uri", f"sqlite:///{self.home / 'mlflow.db'}"]
        command += ["--artifacts-destination", f"s3://{ARTIFACT_BUCKET}/", "--workers", "1"]
        env = {**os.environ, **self.env(), "MLFLOW_S3_ENDPOINT_URL": self.s3_url}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no huey job-queue processes
        env.pop("MLFLOW_TRACKING_URI")
        return command, env

    def _answering(self, name: str) -> bool:
        url = self.s3_url + "/" if name == "seaweedfs" else self.mlflow_url + "/health"
        try:
            with _HTTP.open(url, timeout=2) as response:
                return response.status == 200
        except urllib.error.HTTPError:
            return name == "seaweedfs"  # S3 refuses an unsigned request: it answered
        except OSError:
            return False

    def _wait(self, name: str, pid: int, started: float, log: Log) -> None:
        title = SERVICES[name][0]
        timeout = S3_TIMEOUT_S if name == "seaweedfs" else MLFLOW_TIMEOUT_S
        while not self._answering(name):
            if self._procs[name].pid() != pid:
                self._fail(name, "exited during start-up")
            if time.monotonic() - started > timeout:
                self._fail(name, f"did not answer within {timeout:.0f} s")
            time.sleep(0.25)
        log(f"{title} answering after {time.monotonic() - started:.1f} s")

    def _fail(self, name: str, what: str) -> None:
        proc = self._procs[name]
        proc.stop(STOP_TIMEOUT_S)  # a half-started service is not left behind
        raise ServiceError(
            f"{SERVICES[name][0]} {what} on {self._url(name)}; see {proc.log_file}:\n{proc.tail()}"
        )

    def _ensure_buckets(self, log: Log) -> None:
        access_key, secret_key = self._credentials(create=False)
        settings = S3Settings(f"{HOST}:{self.s3_port}", False, access_key, secret_key, REGION)
        where = f"{self.s3_url}; see {self._log_file('seaweedfs')}"
        wait_ready(s3_client(settings), (DATA_BUCKET, ARTIFACT_BUCKET), S3_TIMEOUT_S, where)
        log(f"buckets ready: {DATA_BUCKET}, {ARTIFACT_BUCKET}")


def _port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    port = int(raw) if raw.isdigit() else 0
    if not 0 < port < 65536:
        raise ConfigError(f"{name}={raw!r} is not a TCP port; expected a number from 1 to 65535")
    return port
