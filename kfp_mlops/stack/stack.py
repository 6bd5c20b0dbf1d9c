"""The embedded stack: SeaweedFS (S3) and an MLflow tracking server on 127.0.0.1 for local runs."""

import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

from components._shared.errors import ConfigError, ServiceError, one_of
from kfp_mlops.stack.mlflow_server import ARTIFACT_BUCKET, MLflowServer
from kfp_mlops.stack.processes import write_private
from kfp_mlops.stack.seaweedfs import AWS_KEY_VARS, DATA_BUCKET, REGION, SeaweedFS
from kfp_mlops.stack.service import STOP_TIMEOUT_S, Log, Service

__all__ = ["ARTIFACT_BUCKET", "DATA_BUCKET", "Stack"]

HOME_ENV = "KFP_MLOPS_HOME"
DEFAULT_HOME = ".kfp-mlops"
UP_HINT = "run `kfp-mlops stack up`"


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
        self.bin_dir = Path(bin_dir) if bin_dir is not None else None
        self.s3 = SeaweedFS(self, s3_port)
        self.mlflow = MLflowServer(self, mlflow_port)
        # In start order: MLflow stores its artifacts in S3.
        self.services: tuple[Service, ...] = (self.s3, self.mlflow)

    @classmethod
    def from_env(cls) -> "Stack":
        """The stack that KFP_MLOPS_HOME, KFP_MLOPS_S3_PORT and KFP_MLOPS_MLFLOW_PORT describe."""
        return cls(
            home=Path(os.environ.get(HOME_ENV) or DEFAULT_HOME),
            s3_port=_port_from_env(SeaweedFS.port_env, 8333),
            mlflow_port=_port_from_env(MLflowServer.port_env, 5000),
        )

    @property
    def s3_port(self) -> int:
        """The S3 endpoint's port."""
        return self.s3.port

    @property
    def mlflow_port(self) -> int:
        """The MLflow tracking server's port."""
        return self.mlflow.port

    @property
    def s3_url(self) -> str:
        """The S3 endpoint."""
        return self.s3.url

    @property
    def mlflow_url(self) -> str:
        """The MLflow tracking URI."""
        return self.mlflow.url

    def up(self, log: Log = print) -> None:
        """Start what is not running, wait until both services answer, create the buckets."""
        binaries = {s.name: self._binary(s.binary) for s in self.services}
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.home / "logs").mkdir(exist_ok=True, mode=0o700)
        self.credentials(create=True)
        running = {s.name: s.process.pid() for s in self.services}
        for service in self.services:  # every check before anything starts
            service.check_port(running[service.name])
        already = all(pid is not None for pid in running.values())
        outer, log = log, (lambda _msg: None) if already else log  # one line when nothing to do
        for service in self.services:
            pid, started = running[service.name], time.monotonic()
            if pid is None:
                log(f"starting {service.title} on {service.url} ...")
                pid = service.start(binaries[service.name])
            else:
                log(f"{service.title} already running on {service.url} (pid {pid})")
            service.wait(pid, started, log)
            service.ready(log)
        state = "already up" if already else "up"
        outer(f"stack {state}: S3 {self.s3_url}, MLflow {self.mlflow_url}, state in {self.home}")

    def down(self, log: Log = print) -> None:
        """Stop the processes this state folder started (MLflow first: it writes to S3)."""
        for service in reversed(self.services):
            pid = service.process.pid()
            if pid is None:
                log(f"{service.title} not running")
                continue
            log(f"stopping {service.title} (pid {pid}) ...")
            outcome = service.process.stop(STOP_TIMEOUT_S)
            log(f"{service.title} {outcome or 'stopped'}")

    def kill(self, name: str, log: Log = print) -> None:
        """SIGKILL one service's whole process group, as a crash would (fault tests).

        Its data, credentials and ports stay: `up` starts it again on the same ports and state.

        Args:
            name: "seaweedfs" or "mlflow".
            log: Where to say what happened.
        """
        by_name = {s.name: s for s in self.services}
        if name not in by_name:
            raise one_of("service", name, by_name)
        service = by_name[name]
        pid = service.process.kill()
        title = service.title
        log(f"{title} killed (pid {pid})" if pid is not None else f"{title} not running")

    def status(self) -> dict:
        """Per service: running, pid, url, answering, log file."""
        return {
            s.name: {
                "running": (pid := s.process.pid()) is not None,
                "pid": pid,
                "url": s.url,
                "answering": s.answering(),
                "log": str(s.process.log_file),
            }
            for s in self.services
        }

    def env(self) -> dict[str, str]:
        """The variables that point components, MLflow and boto3 at this stack."""
        access_key, secret_key = self.credentials(create=False)
        return {
            "AWS_ENDPOINT_URL_S3": self.s3_url,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }

    def credentials(self, create: bool) -> tuple[str, str]:
        """The S3 access and secret key of this stack, created on first `up`."""
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

    def recorded_ports(self) -> dict:
        """Service name → the ports it was last started on (ports.json)."""
        path = self.home / "ports.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def record_ports(self, name: str, ports: dict[str, int]) -> None:
        """Record the ports a service is started on (a restart reuses them)."""
        recorded = {**self.recorded_ports(), name: ports}
        (self.home / "ports.json").write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")

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


def _port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    port = int(raw) if raw.isdigit() else 0
    if not 0 < port < 65536:
        raise ConfigError(f"{name}={raw!r} is not a TCP port; expected a number from 1 to 65535")
    return port
