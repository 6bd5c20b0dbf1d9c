"""Prometheus, the Pushgateway and Alertmanager of the embedded stack (Debian's binaries).

Each binds 127.0.0.1 only and keeps its data, generated config and log in the stack's state
folder. Started only while monitoring is on (`kfp-mlops stack up --monitoring`).
"""

import shutil
import urllib.error
import urllib.request
from pathlib import Path

from components._shared.errors import ServiceError
from kfp_mlops.stack.monitoring import RULES_FILE, alertmanager_config, prometheus_config
from kfp_mlops.stack.processes import write_private
from kfp_mlops.stack.service import _HTTP, HOST, Log, Service

INSTALL_HINT = (
    "run `make monitoring-tools` "
    "(apt-get install prometheus prometheus-pushgateway prometheus-alertmanager)"
)


class MonitoringService(Service):
    """A monitoring server: answers /-/ready, may have a generated config to (re)load."""

    def _health_url(self) -> str:
        return self.url + "/-/ready"

    @property
    def folder(self) -> Path:
        """Its own folder in the state folder (data and config)."""
        return self.stack.home / self.name

    def config_text(self) -> str | None:
        """The config file it should run with (None: it takes none)."""
        return None

    def configure(self) -> bool:
        """Write its config (and what it reads) into its folder; True when that changed."""
        self.folder.mkdir(exist_ok=True, mode=0o700)
        text = self.config_text()
        if text is None:
            return False
        path = self.folder / f"{self.name}.yml"
        old = path.read_text() if path.exists() else None
        write_private(path, text)  # Alertmanager's holds the webhook URL, which may be secret
        return text != old

    def reload(self, log: Log) -> None:
        """Make a running process read its changed config (POST /-/reload)."""
        request = urllib.request.Request(self.url + "/-/reload", method="POST", data=b"")
        try:
            with _HTTP.open(request, timeout=10):
                pass
        except (urllib.error.HTTPError, OSError) as exc:
            raise ServiceError(
                f"{self.title} on {self.url} refused its new config ({exc}); see "
                f"{self.log_file}, or run `kfp-mlops stack down` and up again"
            ) from exc
        log(f"{self.title} reloaded its configuration")

    def start(self, binary: Path) -> int:
        """Record its port, write its config, start it."""
        self.stack.record_ports(self.name, {"port": self.port})
        self.configure()
        return super().start(binary)


class Pushgateway(MonitoringService):
    """Where batch steps (gates, pipeline ends) push their figures for Prometheus to scrape."""

    name = "pushgateway"
    title = "Pushgateway"
    binary = "prometheus-pushgateway"
    port_env = "KFP_MLOPS_PUSHGATEWAY_PORT"
    default_port = 9091

    def command(self, binary: Path) -> tuple[list[str], dict[str, str]]:
        """Loopback only; pushed groups persist across a restart."""
        command = [str(binary), f"--web.listen-address={HOST}:{self.port}"]
        command += [f"--persistence.file={self.folder / 'pushgateway.data'}"]
        command += ["--persistence.interval=30s"]
        return command, {}


class Alertmanager(MonitoringService):
    """Routes Prometheus's alerts to the configured webhook (or keeps them in its UI only)."""

    name = "alertmanager"
    title = "Alertmanager"
    binary = "prometheus-alertmanager"
    port_env = "KFP_MLOPS_ALERTMANAGER_PORT"
    default_port = 9093

    def config_text(self) -> str:
        """Every alert to the one receiver."""
        return alertmanager_config(self.stack.monitoring_settings())

    def command(self, binary: Path) -> tuple[list[str], dict[str, str]]:
        """Loopback only, gossip off (a single local instance must not open port 9094).

        An empty --cluster.listen-address turns clustering off; otherwise Alertmanager gossips
        on 0.0.0.0:9094 (https://github.com/prometheus/alertmanager#turn-off-high-availability).
        """
        command = [str(binary), f"--web.listen-address={HOST}:{self.port}"]
        command += ["--cluster.listen-address=", f"--storage.path={self.folder / 'data'}"]
        command += [f"--config.file={self.folder / 'alertmanager.yml'}"]
        return command, {}


class Prometheus(MonitoringService):
    """Scrapes the Pushgateway, the local model server and itself; evaluates the shipped rules."""

    name = "prometheus"
    title = "Prometheus"
    binary = "prometheus"
    port_env = "KFP_MLOPS_PROMETHEUS_PORT"
    default_port = 9090

    def config_text(self) -> str:
        """Scrape jobs, the shipped rule file (copied beside it), the local Alertmanager."""
        if not RULES_FILE.is_file():
            raise ServiceError(f"the alert rules {RULES_FILE} are missing; restore them from git")
        rules = self.folder / RULES_FILE.name
        shutil.copyfile(RULES_FILE, rules)  # a later `stack up` picks up edited rules
        return prometheus_config(
            self.stack.monitoring_settings(),
            rules=rules,
            self_port=self.port,
            pushgateway=f"{HOST}:{self.stack.pushgateway.port}",
            alertmanager=f"{HOST}:{self.stack.alertmanager.port}",
        )

    def configure(self) -> bool:
        """Write the config; a changed rule file counts as a change too."""
        rules = self.folder / RULES_FILE.name
        old_rules = rules.read_bytes() if rules.exists() else None
        changed = super().configure()
        return changed or rules.read_bytes() != old_rules

    def command(self, binary: Path) -> tuple[list[str], dict[str, str]]:
        """Loopback only, its TSDB in the state folder, reloadable (`/-/reload`)."""
        command = [str(binary), f"--web.listen-address={HOST}:{self.port}"]
        command += [f"--config.file={self.folder / 'prometheus.yml'}"]
        command += [f"--storage.tsdb.path={self.folder / 'data'}"]
        command += ["--storage.tsdb.retention.time=15d", "--web.enable-lifecycle"]
        return command, {}
