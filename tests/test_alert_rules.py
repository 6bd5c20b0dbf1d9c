"""The shipped alert rules, unit-tested by `promtool test rules` (tests/promtool/*.test.yml).

Every alert has a scenario where it fires and one where it does not; a rules file promtool
cannot load fails here with promtool's own words. `make monitoring-tools` installs promtool.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "manifests" / "monitoring" / "kfp-mlops.rules.yml"
PROMTOOL_TESTS = sorted((REPO / "tests" / "promtool").glob("*.test.yml"))
INSTALL = "promtool is not on PATH: run `make monitoring-tools` (apt-get install prometheus)"


class RulesFailed(AssertionError):
    """promtool refused a rules file or one of its unit tests failed; carries its output."""


def promtool(*args: str) -> str:
    """Run promtool; its output, or RulesFailed with that output when it exits non-zero."""
    exe = shutil.which("promtool")
    if exe is None:
        raise RuntimeError(INSTALL)
    done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise RulesFailed(f"promtool {' '.join(args)} failed:\n{output}")
    return output


def alerts(rules: Path = RULES) -> list[str]:
    """The alert names a rules file defines."""
    groups = yaml.safe_load(rules.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def test_rules_file_loads_in_promtool():
    assert f"SUCCESS: {len(alerts())} rules found" in promtool("check", "rules", str(RULES))


@pytest.mark.parametrize("test_file", PROMTOOL_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file):
    assert "SUCCESS" in promtool("test", "rules", str(test_file))


def test_every_alert_is_tested_firing_and_not_firing():
    firing, quiet = set(), set()
    for test_file in PROMTOOL_TESTS:
        doc = yaml.safe_load(test_file.read_text())
        assert doc["rule_files"] == ["../../manifests/monitoring/kfp-mlops.rules.yml"], test_file
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = set(alerts())
    assert len(names) == 10, names
    assert names - firing == set(), "alerts without a firing test"
    assert names - quiet == set(), "alerts without a not-firing test"
    assert (firing | quiet) - names == set(), "tests of alerts the rules file does not define"


def _copy_with_rules(tmp_path: Path, rules_text: str) -> Path:
    """A promtool test file in tmp_path whose rules are `rules_text`."""
    (tmp_path / "rules.yml").write_text(rules_text)
    doc = yaml.safe_load((REPO / "tests" / "promtool" / "gates.test.yml").read_text())
    doc["rule_files"] = ["rules.yml"]
    test_file = tmp_path / "gates.test.yml"
    test_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    return test_file


def test_rules_file_with_a_syntax_error_fails_with_promtools_message(tmp_path):
    broken = RULES.read_text().replace(
        'kfp_mlops_gate_passed{gate="drift"} == 0', 'kfp_mlops_gate_passed{gate="drift" == 0'
    )
    assert broken != RULES.read_text()
    test_file = _copy_with_rules(tmp_path, broken)
    failed = r"(?s)test rules .*gates\.test\.yml failed:.*parse error"
    with pytest.raises(RulesFailed, match=failed):
        promtool("test", "rules", str(test_file))
    with pytest.raises(RulesFailed, match=r"(?s)check rules .*rules\.yml failed:.*parse error"):
        promtool("check", "rules", str(tmp_path / "rules.yml"))


def test_rules_file_with_broken_yaml_fails(tmp_path):
    broken = RULES.read_text().replace("    rules:\n", "    rules\n", 1)
    test_file = _copy_with_rules(tmp_path, broken)
    with pytest.raises(RulesFailed, match=r"rules\.yml"):
        promtool("test", "rules", str(test_file))


def test_a_wrong_expectation_fails_the_unit_test(tmp_path):
    # The same rules with a 1 % error-rate bound raised to 5 %: the 1.1 % scenario no longer fires.
    loose = RULES.read_text().replace("            > 0.01\n", "            > 0.05\n")
    assert loose != RULES.read_text()
    (tmp_path / "rules.yml").write_text(loose)
    doc = yaml.safe_load((REPO / "tests" / "promtool" / "serving.test.yml").read_text())
    doc["rule_files"] = ["rules.yml"]
    test_file = tmp_path / "serving.test.yml"
    test_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(RulesFailed, match=r"(?s)KfpMlopsServerErrorRateHigh.*over:8080"):
        promtool("test", "rules", str(test_file))


def test_every_alert_has_a_severity_summary_and_description():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["alert"].startswith("KfpMlops"), rule["alert"]


def test_the_readme_documents_every_alert_in_its_runbook():
    readme = (REPO / "manifests" / "README.md").read_text()
    for name in alerts():
        assert f"| `{name}` |" in readme, f"manifests/README.md has no runbook line for {name}"


def _amtool(*args: str) -> str:
    exe = shutil.which("amtool")
    if exe is None:
        raise RuntimeError(
            "amtool is not on PATH: run `make monitoring-tools` (prometheus-alertmanager)"
        )
    done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_the_readme_routing_example_is_valid_and_routes_by_severity(tmp_path):
    readme = (REPO / "manifests" / "README.md").read_text()
    example = re.search(r"```yaml\n(# alertmanager\.yml.*?)```", readme, re.DOTALL).group(1)
    config = tmp_path / "alertmanager.yml"
    config.write_text(example)
    assert "SUCCESS" in _amtool("check-config", str(config))
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        severity = rule["labels"]["severity"]
        routed = _amtool(
            "config", "routes", "test", f"--config.file={config}",
            f"alertname={rule['alert']}", f"severity={severity}",
        )  # fmt: skip
        expected = "pager,chat" if severity == "critical" else "chat"
        assert routed == expected, f"{rule['alert']} ({severity}) goes to {routed}"
