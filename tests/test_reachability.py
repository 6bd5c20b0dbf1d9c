"""The declared reachability, checked on the built overlays by network-config-analyzer (NCA).

Needs kubectl (kustomize) and .venv-nca (`make nca`), as `make manifests-check` does.
"""

import shutil
import sys

import pytest

from tests.conftest import REPO

MANIFESTS = REPO / "manifests"
sys.path.insert(0, str(MANIFESTS))
import reachability  # noqa: E402


@pytest.fixture(scope="module")
def verdicts():
    return reachability.run()


def _copy(tmp_path):
    root = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, root, ignore=shutil.ignore_patterns("*.env", "__pycache__"))
    return root


def test_every_declared_path_is_as_declared_in_both_overlays_with_and_without_monitoring(
    verdicts, capsys
):
    configs = {v.config for v in verdicts}
    assert configs == {
        "standalone", "standalone + monitoring",
        "kubeflow-profile", "kubeflow-profile + monitoring",
    }  # fmt: skip
    assert len(verdicts) == 4 * len(reachability.PATHS)
    wrong = [f"{v.config}: {v.reach} is {v.found}" for v in verdicts if not v.ok]
    assert wrong == []
    # Both kinds of path are there, and the scrape port follows the monitoring add-on.
    found = {(v.reach.source, v.reach.target, v.reach.port, v.config): v.found for v in verdicts}
    assert found["prometheus", "log-sink", 9090, "standalone"] == "closed"
    assert found["prometheus", "log-sink", 9090, "standalone + monitoring"] == "open"
    assert found["prometheus", "log-sink", 8080, "kubeflow-profile + monitoring"] == "closed"
    assert found["predictor", "mlflow", 5000, "kubeflow-profile"] == "open"
    with capsys.disabled():  # the figure: each path's verdict from the analyzer
        print("\n" + reachability.report(verdicts))


def test_the_readme_holds_the_declared_table():
    text = (MANIFESTS / "README.md").read_text()
    held = reachability.readme_table(text)
    assert held == reachability.table()
    for reach in reachability.PATHS:
        row = f"| {reach.source} | {reach.target} | {reach.port} | {reach.verdict} |"
        assert row in held


def test_the_predictor_is_the_pod_deploy_model_renders():
    from components.deploy_model import render

    labels = reachability.predictor_labels()
    assert labels[render.MODEL_VERSION_KEY] == "3"
    assert labels[render.CLIENT_KEY] == "true"


def test_opening_the_ingest_port_to_prometheus_fails_naming_the_path_and_the_policy(
    tmp_path, capsys
):
    root = _copy(tmp_path)
    scrape = root / "monitoring" / "networkpolicy-log-sink-scrape.yaml"
    scrape.write_text(scrape.read_text().replace("port: 9090", "port: 8080"))
    assert reachability.main(["--manifests", str(root)]) == 1
    err = capsys.readouterr().err
    assert (
        "reachability: standalone + monitoring: prometheus -> log-sink:8080 is open, must be "
        "closed" in err
    )
    assert "kfp-mlops-log-sink-scrape" in err  # the policy that opens it, as NCA names it
    assert "standalone: prometheus -> log-sink:8080" not in err  # monitoring's policy only
    assert "prometheus -> log-sink:9090 is closed, must be open" in err


def test_removing_the_sinks_egress_policy_opens_paths_it_must_not_have(tmp_path, capsys):
    root = _copy(tmp_path)
    policies = root / "base" / "log-sink" / "networkpolicy.yaml"
    text = policies.read_text()
    policies.write_text(text[: text.index("\n---\n")] + "\n")  # the ingress policy alone
    assert reachability.main(["--manifests", str(root)]) == 1
    err = capsys.readouterr().err
    for config in ("standalone", "kubeflow-profile"):
        assert f"{config}: log-sink -> kubernetes-api:443 is open, must be closed" in err
        assert f"{config}: log-sink -> client:8080 is open, must be closed" in err


def test_a_stale_readme_table_fails_and_says_how_to_regenerate(tmp_path, capsys):
    root = _copy(tmp_path)
    readme = root / "README.md"
    row = "| client | log-sink | 8080 |"
    readme.write_text(readme.read_text().replace(f"{row} closed |", f"{row} open |"))
    assert reachability.main(["--manifests", str(root)]) == 1
    err = capsys.readouterr().err
    assert "does not hold the declared table" in err and "--write-readme" in err


def test_an_unreadable_connection_set_is_an_error_not_a_verdict():
    assert reachability.parse_connection("{protocols:TCP,dst_ports:8012,8080}") == {
        "TCP": {8012, 8080}
    }
    assert reachability.parse_connection("{protocols:TCP, UDP,dst_ports:53}") == {
        "TCP": {53}, "UDP": {53}
    }  # fmt: skip
    with pytest.raises(reachability.ReachabilityError, match="cannot read NCA's connection"):
        reachability.parse_connection("{dst_ports:8080,methods:GET,paths:/metrics}")


def test_without_the_analyzer_the_check_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(reachability.NCA_ENV, str(tmp_path / "no-nca"))
    assert reachability.main([]) == 2
    assert "run `make nca`" in capsys.readouterr().err
