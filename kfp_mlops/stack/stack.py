"""The embedded stack on 127.0.0.1: SeaweedFS (S3), MLflow, and optionally its monitoring."""

import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

from components._shared.errors import ConfigError, ServiceError, one_of
from kfp_mlops.stack import keys
from kfp_mlops.stack import monitoring as mon
from kfp_mlops.stack.mlflow_server import ARTIFACT_BUCKET, MLflowServer
from kfp_mlops.stack.monitoring import MonitoringSettings
from kfp_mlops.stack.observability import (
    INSTALL_HINT,
    Alertmanager,
    MonitoringService,
    Prometheus,
    Pushgateway,
)
from kfp_mlops.stack.processes import write_private
from kfp_mlops.stack.seaweedfs import AWS_KEY_VARS, DATA_BUCKET, REGION, SeaweedFS
from kfp_mlops.stack.service import STOP_TIMEOUT_S, Log, Service

__all__ = ["ARTIFACT_BUCKET", "DATA_BUCKET", "Stack"]

HOME_ENV = "KFP_MLOPS_HOME"
DEFAULT_HOME = ".kfp-mlops"
UP_HINT = "run `kfp-mlops stack up`"


class Stack:
    """The stack's processes, owned by one state folder (data, pids, logs, credentials)."""

    def __init__(
        self,
        home: Path,
        s3_port: int = 8333,
        mlflow_port: int = 5000,
        bin_dir: Path | None = None,
        *,
        prometheus_port: int = Prometheus.default_port,
        pushgateway_port: int = Pushgateway.default_port,
        alertmanager_port: int = Alertmanager.default_port,
        alert_webhook: str | None = None,
        serve_target: str | None = None,
        interval_s: float | None = None,
    ):
        """Describe a stack; nothing starts until `up`.

        Args:
            home: State folder (SeaweedFS data, MLflow db, credentials, pid files, logs).
            s3_port: S3 endpoint port on 127.0.0.1.
            mlflow_port: MLflow tracking server port on 127.0.0.1.
            bin_dir: Where the servers' binaries are; default: beside this Python, then PATH.
            prometheus_port: Prometheus's port (while monitoring is on).
            pushgateway_port: The Pushgateway's port.
            alertmanager_port: Alertmanager's port.
            alert_webhook: Where Alertmanager sends alerts ("" none); None keeps the remembered.
            serve_target: host:port of the model server to scrape; None keeps the remembered.
            interval_s: Scrape/evaluation interval; None keeps the remembered (default 5 s).
        """
        self.home = Path(home).absolute()
        self.bin_dir = Path(bin_dir) if bin_dir is not None else None
        self.s3 = SeaweedFS(self, s3_port)
        self.mlflow = MLflowServer(self, mlflow_port)
        self.pushgateway = Pushgateway(self, pushgateway_port)
        self.alertmanager = Alertmanager(self, alertmanager_port)
        self.prometheus = Prometheus(self, prometheus_port)
        self._given = {
            "alert_webhook": alert_webhook,
            "serve_target": serve_target,
            "interval_s": interval_s,
        }
        mon.merged(None, **self._given)  # refuse bad settings now, not at `up`
        # In start order: MLflow stores its artifacts in S3; Prometheus sends to Alertmanager.
        self.core: tuple[Service, ...] = (self.s3, self.mlflow)
        self.observability: tuple[MonitoringService, ...] = (
            self.pushgateway,
            self.alertmanager,
            self.prometheus,
        )

    @classmethod
    def from_env(
        cls, *, alert_webhook: str | None = None, serve_target: str | None = None
    ) -> "Stack":
        """The stack that KFP_MLOPS_HOME and the KFP_MLOPS_*_PORT variables describe.

        Args:
            alert_webhook: Replaces the remembered webhook; None: KFP_MLOPS_ALERT_WEBHOOK_URL
                if set, else the remembered one.
            serve_target: Replaces the remembered scrape target; None: KFP_MLOPS_SERVE_TARGET
                if set, else the remembered one.
        """
        if alert_webhook is None:
            alert_webhook = os.environ.get(mon.WEBHOOK_ENV) or None
        if serve_target is None:
            serve_target = os.environ.get(mon.SERVE_TARGET_ENV) or None
        return cls(
            home=Path(os.environ.get(HOME_ENV) or DEFAULT_HOME),
            s3_port=_port_from_env(SeaweedFS.port_env, 8333),
            mlflow_port=_port_from_env(MLflowServer.port_env, 5000),
            prometheus_port=_port_from_env(Prometheus.port_env, Prometheus.default_port),
            pushgateway_port=_port_from_env(Pushgateway.port_env, Pushgateway.default_port),
            alertmanager_port=_port_from_env(Alertmanager.port_env, Alertmanager.default_port),
            alert_webhook=alert_webhook,
            serve_target=serve_target,
        )

    @property
    def monitoring(self) -> bool:
        """Whether monitoring is on (remembered in the state folder)."""
        return (self.home / mon.STATE_FILE).exists()

    def monitoring_settings(self) -> MonitoringSettings:
        """The remembered monitoring settings with those given to this object replaced."""
        return mon.merged(mon.remembered(self.home), **self._given)

    @property
    def services(self) -> tuple[Service, ...]:
        """The services `up` starts and `status` lists: the monitoring ones while it is on."""
        return self.core + (self.observability if self.monitoring else ())

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

    def up(self, log: Log = print, *, monitoring_on: bool = False) -> None:
        """Start what is not running, wait until every service answers, create the buckets.

        Args:
            log: Where progress goes.
            monitoring_on: Turn monitoring on (it stays on for later `up`s until `down`).
        """
        wanted = self.core + (self.observability if monitoring_on or self.monitoring else ())
        binaries = {s.name: self._binary(s) for s in wanted}
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        if wanted != self.core:
            mon.remember(self.home, self.monitoring_settings())
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
                if isinstance(service, MonitoringService) and service.configure():
                    service.reload(outer)  # new webhook, scrape target or rules
            service.wait(pid, started, log)
            service.ready(log)
        state = "already up" if already else "up"
        outer(f"stack {state}: S3 {self.s3_url}, MLflow {self.mlflow_url}, state in {self.home}")
        if self.monitoring:
            outer(
                f"monitoring: Prometheus {self.prometheus.url}, Alertmanager "
                f"{self.alertmanager.url}, Pushgateway {self.pushgateway.url}"
            )

    def down(self, log: Log = print) -> None:
        """Stop every process this state folder started (MLflow before S3: it writes to S3).

        Monitoring is turned off too: the next plain `up` starts SeaweedFS and MLflow only.
        """
        was_on = self.monitoring
        for service in reversed(self.core + self.observability):
            pid = service.process.pid()
            if pid is None:
                if service in self.core or was_on:
                    log(f"{service.title} not running")
                continue
            log(f"stopping {service.title} (pid {pid}) ...")
            outcome = service.process.stop(STOP_TIMEOUT_S)
            log(f"{service.title} {outcome or 'stopped'}")
        mon.forget(self.home)

    def kill(self, name: str, log: Log = print) -> None:
        """SIGKILL one service's whole process group, as a crash would (fault tests).

        Its data, credentials and ports stay: `up` starts it again on the same ports and state.

        Args:
            name: "seaweedfs", "mlflow", "pushgateway", "alertmanager" or "prometheus".
            log: Where to say what happened.
        """
        by_name = {s.name: s for s in self.core + self.observability}
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
        """The variables that point components, MLflow and boto3 at this stack, keys.py's too."""
        access_key, secret_key = self.credentials(create=False)
        services = {
            "AWS_ENDPOINT_URL_S3": self.s3_url,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        return services | self.monitoring_env() | keys.env(self.home)

    def monitoring_env(self) -> dict[str, str]:
        """Where gates push and the deploy judge queries, for each monitoring server that runs."""
        env = {}
        if self.monitoring and self.pushgateway.process.pid() is not None:
            env["KFP_MLOPS_PUSHGATEWAY_URL"] = self.pushgateway.url
        if self.monitoring and self.prometheus.process.pid() is not None:
            env["KFP_MLOPS_PROMETHEUS_URL"] = self.prometheus.url
        return env

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

    def _binary(self, service: Service) -> Path:
        name = service.binary
        if self.bin_dir is not None:
            candidates, where = [self.bin_dir / name], str(self.bin_dir)
        else:
            beside = Path(sys.executable).parent  # the venv's bin, even when python is a symlink
            candidates, where = [beside / name], f"{beside} and on PATH"
            candidates += [Path(found)] if (found := shutil.which(name)) else []
        for path in candidates:
            if path.is_file() and os.access(path, os.X_OK):
                return path
        hint = INSTALL_HINT if isinstance(service, MonitoringService) else "run `make install`"
        raise ServiceError(f"{name} not found (looked in {where}); {hint}")


def _port_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    port = int(raw) if raw.isdigit() else 0
    if not 0 < port < 65536:
        raise ConfigError(f"{name}={raw!r} is not a TCP port; expected a number from 1 to 65535")
    return port
