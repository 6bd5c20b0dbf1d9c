"""Monitoring settings of the embedded stack: remembered in its state folder, and the configs.

`stack up --monitoring` writes `monitoring.json` (only its owner can read it: a Slack webhook
URL is a secret); while it exists every `stack up` starts Prometheus, the Pushgateway and
Alertmanager too, with the settings it holds unless new ones are given. `stack down` removes it.
"""

import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import yaml

from components._shared.errors import ConfigError
from components._shared.redact import redact_uri
from kfp_mlops.stack.processes import write_private

STATE_FILE = "monitoring.json"
# The shipped rules, found relative to the repository like pipelines/descriptors.py finds
# compiled/: what is committed is what the local Prometheus evaluates.
RULES_FILE = Path(__file__).resolve().parents[2] / "manifests/monitoring/kfp-mlops.rules.yml"
WEBHOOK_ENV = "KFP_MLOPS_ALERT_WEBHOOK_URL"
SERVE_TARGET_ENV = "KFP_MLOPS_SERVE_TARGET"
DEFAULT_SERVE_TARGET = "127.0.0.1:8080"  # `kfp-mlops serve`'s default address
DEFAULT_INTERVAL_S = 5.0  # scrape and rule evaluation: short enough for a local loop
RECEIVER = "kfp-mlops"
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-]+:(\d{1,5})$")


@dataclass(frozen=True)
class MonitoringSettings:
    """What the local Prometheus scrapes and where Alertmanager sends alerts.

    Attributes:
        alert_webhook: The webhook every alert goes to; "" = none (alerts show in the
            Alertmanager UI and API only).
        serve_target: host:port of the model server Prometheus scrapes (/metrics).
        interval_s: Scrape and rule evaluation interval, also Alertmanager's group_wait.
    """

    alert_webhook: str = ""
    serve_target: str = DEFAULT_SERVE_TARGET
    interval_s: float = DEFAULT_INTERVAL_S

    def __post_init__(self):
        """Refuse settings Prometheus or Alertmanager would refuse later, less clearly."""
        if self.alert_webhook:
            parsed = urlparse(self.alert_webhook)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ConfigError(
                    f"alert webhook {redact_uri(self.alert_webhook)!r} is not an http(s) URL; "
                    f"pass --alert-webhook http://host:port/path or set {WEBHOOK_ENV}"
                )
        match = _HOST_PORT.match(self.serve_target)
        if not match or not 0 < int(match.group(1)) < 65536:
            raise ConfigError(
                f"serve target {self.serve_target!r} is not host:port; pass --serve-target "
                f"127.0.0.1:8080 or set {SERVE_TARGET_ENV}"
            )
        if not 0.5 <= self.interval_s <= 300:
            raise ConfigError(f"interval_s={self.interval_s} is outside 0.5..300 seconds")


def remembered(home: Path) -> MonitoringSettings | None:
    """The settings monitoring was last turned on with; None when it is off."""
    path = home / STATE_FILE
    if not path.exists():
        return None
    try:
        return MonitoringSettings(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{path} is not valid monitoring state ({exc}); delete it and run "
            "`kfp-mlops stack up --monitoring`"
        ) from exc


def remember(home: Path, settings: MonitoringSettings) -> None:
    """Turn monitoring on with these settings (a later plain `stack up` keeps them)."""
    write_private(home / STATE_FILE, json.dumps(asdict(settings), indent=2) + "\n")


def forget(home: Path) -> None:
    """Turn monitoring off."""
    (home / STATE_FILE).unlink(missing_ok=True)


def merged(old: MonitoringSettings | None, **given) -> MonitoringSettings:
    """The remembered settings (or defaults) with the given ones (None = keep) replaced."""
    changes = {key: value for key, value in given.items() if value is not None}
    return replace(old or MonitoringSettings(), **changes)


def _seconds(value: float) -> str:
    return f"{int(value * 1000)}ms"  # Prometheus durations take whole units only


def prometheus_config(
    settings: MonitoringSettings,
    *,
    rules: Path,
    self_port: int,
    pushgateway: str,
    alertmanager: str,
) -> str:
    """prometheus.yml: scrape the Pushgateway (its labels kept), the model server, itself.

    `honor_labels: true` on the Pushgateway job keeps the pushed job/pipeline/model/gate labels
    instead of the scrape's own (https://prometheus.io/docs/practices/pushing/).
    """
    interval = _seconds(settings.interval_s)

    def job(name: str, target: str, **extra) -> dict:
        return {"job_name": name, **extra, "static_configs": [{"targets": [target]}]}

    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            job("pushgateway", pushgateway, honor_labels=True),
            job("kfp-mlops-serve", settings.serve_target, metrics_path="/metrics"),
            job("prometheus", f"127.0.0.1:{self_port}"),
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def alertmanager_config(settings: MonitoringSettings) -> str:
    """alertmanager.yml: every alert to one receiver, the webhook if one is given.

    Without a webhook the receiver has no configs: Alertmanager accepts that, and the alerts
    are still listed by its API and UI.
    """
    receiver: dict = {"name": RECEIVER}
    if settings.alert_webhook:
        receiver["webhook_configs"] = [{"url": settings.alert_webhook, "send_resolved": True}]
    interval = _seconds(settings.interval_s)
    route = {
        "receiver": RECEIVER,
        "group_by": ["alertname", "pipeline", "model", "gate"],
        "group_wait": interval,  # locally short: the first notification comes at once
        "group_interval": "1m",
        "repeat_interval": "4h",
    }
    return yaml.safe_dump({"route": route, "receivers": [receiver]}, sort_keys=False)
