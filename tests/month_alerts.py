"""The project's own alert rules evaluated over the month's pushed series, by promtool.

Each night's drift verdict, as the Pushgateway held it after the run, becomes one sample a
day of `kfp_mlops_gate_passed{gate="drift"}`; `promtool test rules` evaluates the shipped
rules file (manifests/monitoring/kfp-mlops.rules.yml) over that series and checks, night by
night, whether KfpMlopsDriftDetected is firing as the verdicts say it must. A rule that
disagrees with a night fails with promtool's own words (tests/test_alert_rules.py's `promtool`).
"""

import tempfile
from pathlib import Path

import yaml

from tests.test_alert_rules import RULES, promtool

DRIFT = "kfp_mlops_gate_passed{pipeline=monitoring,gate=drift}"
FIRING = 'count(ALERTS{alertname="KfpMlopsDriftDetected",alertstate="firing"}) or vector(0)'


def drift_verdicts(nights) -> list[float]:
    """The pushed drift verdict after each night (1 passed, 0 drifted)."""
    missing = [r.day for r in nights if DRIFT not in r.pushed]
    assert not missing, f"nights {missing} pushed no drift verdict"
    return [r.pushed[DRIFT] for r in nights]


def drift_alert_by_night(nights, model: str = "month") -> list[bool]:
    """Whether the drift alert fires after each night, checked by promtool on the real rules.

    Returns the firing state per night (firing exactly when that night's verdict was a drift),
    after promtool confirmed that the shipped rule fires on those nights and only those.
    """
    verdicts = drift_verdicts(nights)
    firing = [v == 0 for v in verdicts]
    series = (
        f'kfp_mlops_gate_passed{{job="kfp_mlops_gate", pipeline="monitoring", '
        f'model="{model}", gate="drift"}}'
    )
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1d",
        "tests": [
            {
                "name": "the month's nights",
                "interval": "1d",
                "input_series": [
                    {"series": series, "values": " ".join(str(int(v)) for v in verdicts)}
                ],
                "promql_expr_test": [
                    {
                        "expr": FIRING,
                        "eval_time": f"{i}d",
                        "exp_samples": [{"labels": "{}", "value": int(f)}],
                    }
                    for i, f in enumerate(firing)
                ],
            }
        ],
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "month.test.yml"
        path.write_text(yaml.safe_dump(test, sort_keys=False))
        promtool("test", "rules", str(path))
    return firing
