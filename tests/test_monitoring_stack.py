"""`stack up --monitoring`: Prometheus, the Pushgateway and Alertmanager as stack services.

The generated configs are checked by the tools that ship with the servers (`promtool check
config`, `amtool check-config`); the lifecycle (remembered on, status, kill and restart, reload
of a new webhook, down turns it off) runs real processes on free ports.
"""

import shutil
import stat
import subprocess
import time
import urllib.error

import pytest
import yaml

from components._shared.errors import ConfigError
from kfp_mlops.stack import Stack
from kfp_mlops.stack.monitoring import (
    RULES_FILE,
    MonitoringSettings,
    alertmanager_config,
    prometheus_config,
)
from tests.conftest import free_port
from tests.monitoring_stack import get_json, stack_env
from tests.test_stack import _group_pids, _listening, _quiet

MONITORING = ("pushgateway", "alertmanager", "prometheus")


def _check(tool: str, *args: str) -> subprocess.CompletedProcess:
    if shutil.which(tool) is None:
        raise AssertionError(f"{tool} is not installed: run `make monitoring-tools`")
    return subprocess.run([tool, *args], capture_output=True, text=True)


# -- generated configs, checked by the servers' own tools ------------------------------------


def test_prometheus_config_passes_promtool_with_the_shipped_rules(tmp_path):
    rules = tmp_path / RULES_FILE.name
    shutil.copyfile(RULES_FILE, rules)
    text = prometheus_config(
        MonitoringSettings(serve_target="127.0.0.1:18080", interval_s=1),
        rules=rules,
        self_port=19090,
        pushgateway="127.0.0.1:19091",
        alertmanager="127.0.0.1:19093",
    )
    (tmp_path / "prometheus.yml").write_text(text)
    checked = _check("promtool", "check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout and "rules found" in checked.stdout
    config = yaml.safe_load(text)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["pushgateway"]["honor_labels"] is True  # pushed job/model/gate labels win
    assert jobs["kfp-mlops-serve"]["static_configs"] == [{"targets": ["127.0.0.1:18080"]}]
    assert jobs["kfp-mlops-serve"]["metrics_path"] == "/metrics"
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["127.0.0.1:19090"]}]
    assert config["global"] == {"scrape_interval": "1000ms", "evaluation_interval": "1000ms"}
    [am] = config["alerting"]["alertmanagers"]
    assert am["static_configs"] == [{"targets": ["127.0.0.1:19093"]}]


def test_prometheus_config_with_a_broken_rule_file_fails_promtool(tmp_path):
    rules = tmp_path / "broken.rules.yml"
    rules.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(\n")
    text = prometheus_config(
        MonitoringSettings(), rules=rules, self_port=1, pushgateway="a:1", alertmanager="b:2"
    )
    (tmp_path / "prometheus.yml").write_text(text)
    checked = _check("promtool", "check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode != 0 and "broken.rules.yml" in checked.stdout + checked.stderr


@pytest.mark.parametrize("webhook", ["http://127.0.0.1:9/alerts", ""])
def test_alertmanager_config_passes_amtool_with_and_without_webhook(tmp_path, webhook):
    text = alertmanager_config(MonitoringSettings(alert_webhook=webhook, interval_s=2))
    (tmp_path / "alertmanager.yml").write_text(text)
    checked = _check("amtool", "check-config", str(tmp_path / "alertmanager.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(text)
    assert config["route"]["receiver"] == "kfp-mlops" and config["route"]["group_wait"] == "2000ms"
    [receiver] = config["receivers"]
    hooks = receiver.get("webhook_configs", [])
    assert hooks == ([{"url": webhook, "send_resolved": True}] if webhook else [])


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"alert_webhook": "ftp://example.org/x"}, "not an http.s. URL; pass --alert-webhook"),
        ({"alert_webhook": "hooks.slack.com/x"}, "KFP_MLOPS_ALERT_WEBHOOK_URL"),
        ({"serve_target": "127.0.0.1"}, "is not host:port; pass --serve-target"),
        ({"serve_target": "127.0.0.1:99999"}, "KFP_MLOPS_SERVE_TARGET"),
        ({"interval_s": 0.01}, "outside 0.5..300 seconds"),
    ],
)
def test_monitoring_settings_refused_name_the_way_out(given, message):
    with pytest.raises(ConfigError, match=message):
        MonitoringSettings(**given)


def test_cli_stack_up_bad_webhook_exit_2_nothing_started(tmp_path, monkeypatch, capsys):
    from kfp_mlops.cli.main import main

    monkeypatch.setenv("KFP_MLOPS_HOME", str(tmp_path / "home"))
    code = main(["stack", "up", "--monitoring", "--alert-webhook", "smtp://mail"])
    assert code == 2 and "--alert-webhook" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()


# -- the real processes ------------------------------------------------------------------------


def _stack(home, **given) -> Stack:
    ports = {"s3_port": free_port(), "mlflow_port": free_port()}
    ports |= {f"{name}_port": free_port() for name in MONITORING}
    return Stack(home=home, **ports, **given)


def _same(st: Stack, **given) -> Stack:
    """Another object for the same stack (as a later CLI call builds it)."""
    ports = {"s3_port": st.s3_port, "mlflow_port": st.mlflow_port}
    ports |= {f"{s.name}_port": s.port for s in st.observability}
    return Stack(home=st.home, **ports, **given)


@pytest.fixture(scope="module")
def monitoring_on(tmp_path_factory):
    st = _stack(tmp_path_factory.mktemp("mon-home"), serve_target=f"127.0.0.1:{free_port()}")
    st.up(log=_quiet, monitoring_on=True)
    try:
        yield st
    finally:
        st.down(log=_quiet)


@pytest.mark.stack
def test_monitoring_up_all_answer_on_loopback_ports_recorded_env_points_at_them(monitoring_on):
    st = monitoring_on
    status = st.status()
    assert list(status) == ["seaweedfs", "mlflow", *MONITORING]
    assert all(info["answering"] for info in status.values()), status
    recorded = st.recorded_ports()
    for service in st.observability:
        assert recorded[service.name] == {"port": service.port}
        pids = _group_pids(status[service.name]["pid"])
        listening = _listening(pids)
        assert listening and {address for address, _ in listening} == {"127.0.0.1"}, listening
        assert {port for _, port in listening} == {service.port}  # no gossip port 9094
    env = st.env()
    assert env["KFP_MLOPS_PUSHGATEWAY_URL"] == st.pushgateway.url
    assert env["KFP_MLOPS_PROMETHEUS_URL"] == st.prometheus.url
    state = st.home / "monitoring.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE((st.home / "alertmanager" / "alertmanager.yml").stat().st_mode) == 0o600


@pytest.mark.stack
def test_monitoring_prometheus_scrapes_pushgateway_and_itself_with_the_shipped_rules(
    monitoring_on,
):
    st = monitoring_on
    rules = get_json(f"{st.prometheus.url}/api/v1/rules")["data"]["groups"]
    names = {rule["name"] for group in rules for rule in group["rules"]}
    shipped = yaml.safe_load(RULES_FILE.read_text())["groups"]
    assert names == {rule["alert"] for group in shipped for rule in group["rules"]}
    by_job: dict = {}
    deadline = time.monotonic() + 30  # targets appear after the first discovery sync
    while len(by_job) < 3 and time.monotonic() < deadline:
        targets = get_json(f"{st.prometheus.url}/api/v1/targets")["data"]["activeTargets"]
        by_job = {t["labels"]["job"]: t for t in targets}
        time.sleep(0.2)
    assert by_job["pushgateway"]["scrapeUrl"] == f"{st.pushgateway.url}/metrics"
    assert by_job["kfp-mlops-serve"]["scrapeUrl"].endswith("/metrics")
    assert by_job["prometheus"]["scrapeUrl"] == f"{st.prometheus.url}/metrics"
    managers = get_json(f"{st.prometheus.url}/api/v1/alertmanagers")["data"]
    assert [a["url"] for a in managers["activeAlertmanagers"]] == [
        f"{st.alertmanager.url}/api/v2/alerts"
    ]


@pytest.mark.stack
def test_monitoring_cli_status_lists_the_monitoring_services(monitoring_on, capsys):
    from kfp_mlops.cli.main import main

    patch = stack_env(monitoring_on)
    try:
        code = main(["stack", "status"])
    finally:
        patch.undo()
    out = capsys.readouterr().out
    assert code == 0, out
    for service in monitoring_on.observability:
        assert f"{service.name:<12} up" in out and service.url in out


@pytest.mark.stack
def test_monitoring_plain_up_keeps_it_new_webhook_is_reloaded_kill_restarts(monitoring_on):
    st = monitoring_on
    hook = f"http://127.0.0.1:{free_port()}/hook"
    again = _same(st, alert_webhook=hook)
    lines: list[str] = []
    again.up(log=lines.append)  # no monitoring_on: remembered
    assert "Alertmanager reloaded its configuration" in lines
    assert not any(line.startswith("starting") for line in lines), lines
    original = get_json(f"{st.alertmanager.url}/api/v2/status")["config"]["original"]
    assert hook in original
    # A later plain object (no webhook given) keeps the remembered one.
    assert _same(st).monitoring_settings().alert_webhook == hook

    old_pid = st.status()["prometheus"]["pid"]
    st.kill("prometheus", log=_quiet)
    assert st.status()["prometheus"]["running"] is False
    with pytest.raises(urllib.error.URLError):
        get_json(f"{st.prometheus.url}/-/ready")
    _same(st).up(log=_quiet)
    after = st.status()["prometheus"]
    assert after["answering"] and after["pid"] != old_pid
    assert after["url"] == st.prometheus.url  # same port, same TSDB folder


@pytest.mark.stack
def test_monitoring_down_stops_all_and_turns_it_off(tmp_path):
    st = _stack(tmp_path / "home")
    st.up(log=_quiet, monitoring_on=True)
    pids = {name: info["pid"] for name, info in st.status().items()}
    lines: list[str] = []
    st.down(log=lines.append)
    for title in ("Prometheus", "Alertmanager", "Pushgateway", "MLflow", "SeaweedFS"):
        assert f"{title} stopped" in lines, lines
    assert all(not _group_pids(pid) for pid in pids.values())
    assert st.monitoring is False and list(st.status()) == ["seaweedfs", "mlflow"]
    assert "KFP_MLOPS_PUSHGATEWAY_URL" not in st.env()
    # Data stays: monitoring comes back on the same TSDB and Pushgateway file.
    assert (tmp_path / "home" / "prometheus" / "data").is_dir()
