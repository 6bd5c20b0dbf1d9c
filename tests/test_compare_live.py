"""compare_live's core on synthetic shadow-logged traffic: pairing, numbers, fail-closed cases.

The log is built as the server writes it: primary rows, and the shadow's rows of the same
requests with `endpoint` = "shadow" and the challenger's version (components/_shared/logformat).
"""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from components._shared.errors import ConfigError, DataError
from components._shared.logformat import ENDPOINT, PRIMARY, SHADOW
from components.compare_live.core import compare_live
from components.compare_live.report import render_markdown

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def traffic(
    requests: int,
    champion_accuracy: float,
    challenger_accuracy: float,
    *,
    rows: int = 1,
    seed: int = 0,
    champion: str = "1",
    challenger: str = "2",
    shadowed: float = 1.0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A log of `requests` requests of `rows` rows each, answered by both models, and labels.

    Each model is right with its accuracy, independently; `sex` alternates "f"/"m";
    `shadowed` of the requests (the first ones) also have shadow rows.
    """
    rng = np.random.default_rng(seed)
    n = requests * rows
    truth = rng.integers(0, 2, n)
    ids = np.repeat([f"req-{i}" for i in range(requests)], rows)
    times = np.repeat([T0 + timedelta(seconds=i) for i in range(requests)], rows)
    sex = np.where(np.arange(n) % 2, "f", "m")

    def answers(accuracy, version, endpoint, delay):
        right = rng.random(n) < accuracy
        predicted = np.where(right, truth, 1 - truth)
        frame = pd.DataFrame(
            {
                "request_id": ids,
                "time": pd.to_datetime(times) + pd.Timedelta(milliseconds=delay),
                "model_name": "m",
                "model_version": version,
                ENDPOINT: endpoint,
                "sex": sex,
                "prediction": predicted,
                "proba_0": np.where(predicted == 0, 0.7, 0.3) + rng.normal(0, 0.05, n),
            }
        )
        frame["proba_1"] = 1 - frame["proba_0"]
        return frame

    primary = answers(champion_accuracy, champion, PRIMARY, 0)
    shadow = answers(challenger_accuracy, challenger, SHADOW, 5)
    shadow = shadow[np.repeat(np.arange(requests) < shadowed * requests, rows)]
    labels = pd.DataFrame({"request_id": ids, "label": truth})
    if rows > 1:
        labels["row"] = np.tile(np.arange(rows), requests)
    return pd.concat([primary, shadow], ignore_index=True), labels


LOOSE = {"min_requests": 10, "min_labelled_rows": 10, "bootstrap": 200}


def test_agreement_and_shares_are_those_of_the_paired_rows():
    log, labels = traffic(400, 0.8, 0.8)
    result = compare_live(log, labels, **LOOSE, max_metric_drop=1.0)
    shadow = log[log[ENDPOINT] == SHADOW].reset_index(drop=True)
    primary = log[log[ENDPOINT] == PRIMARY].reset_index(drop=True)
    assert result.agreement == pytest.approx((primary.prediction == shadow.prediction).mean())
    share = result.shares["1"]
    assert share["champion"] == pytest.approx((primary.prediction == 1).mean())
    assert share["challenger"] == pytest.approx((shadow.prediction == 1).mean())
    assert share["difference"] == pytest.approx(share["challenger"] - share["champion"])
    assert (result.champion_version, result.challenger_version) == ("1", "2")
    assert result.counts.requests == 400 and result.counts.labelled_rows == 400
    assert result.passed and not result.cannot_judge


def test_bootstrap_interval_holds_the_true_difference_and_the_gate_follows_its_lower_bound():
    log, labels = traffic(4000, 0.70, 0.80, seed=3)
    better = compare_live(log, labels, **LOOSE | {"bootstrap": 500}, max_metric_drop=0.0)
    assert better.delta_low < 0.10 < better.delta_high  # the true difference
    assert better.delta_low > 0 and better.passed
    assert better.method == "paired bootstrap over requests, 500 resamples, 95 %"
    again = compare_live(log, labels, **LOOSE | {"bootstrap": 500}, max_metric_drop=0.0)
    assert (again.delta_low, again.delta_high) == (better.delta_low, better.delta_high)
    worse = compare_live(log, labels.assign(label=1 - labels.label), **LOOSE)
    assert worse.delta_high < 0 and not worse.passed and not worse.cannot_judge
    assert "lower bound is below -0.0 (max_metric_drop)" in worse.reasons[0]


def test_roc_auc_from_the_positive_class_probability():
    from sklearn.metrics import roc_auc_score

    log, labels = traffic(600, 0.75, 0.75, seed=5)
    result = compare_live(log, labels, **LOOSE, metric="roc_auc", max_metric_drop=1.0)
    primary = log[log[ENDPOINT] == PRIMARY]
    assert result.champion_value == pytest.approx(roc_auc_score(labels.label, primary.proba_1))
    assert result.delta_low <= result.delta <= result.delta_high


def test_multi_row_requests_pair_by_row_index_and_labels_name_rows():
    log, labels = traffic(100, 1.0, 0.0, rows=3)
    result = compare_live(log, labels, **LOOSE, max_metric_drop=1.0)
    assert result.counts.paired_rows == 300 and result.counts.requests == 100
    assert result.agreement == 0.0  # row i of the shadow is paired with row i of the primary
    assert (result.champion_value, result.challenger_value) == (1.0, 0.0)
    no_row = compare_live(log, labels.drop(columns="row"), **LOOSE)
    # Without `row`, a request's 3 labels are one label repeated (the last wins), ambiguous.
    assert no_row.cannot_judge and no_row.counts.ambiguous_labels == 100
    assert no_row.counts.duplicate_labels == 200


def test_fairness_gap_per_group_of_each_model():
    log, labels = traffic(600, 0.8, 0.8, seed=2)
    shadow = log[ENDPOINT] == SHADOW
    log.loc[shadow & (log.sex == "f"), "prediction"] = 1  # the challenger always says 1 for f
    result = compare_live(
        log, labels, **LOOSE, max_metric_drop=1.0, sensitive_features=["sex"],
        max_fairness_gap=0.2,
    )  # fmt: skip
    (sex,) = result.fairness
    assert sex["measure"] == "demographic_parity_difference"
    assert sex["challenger_gap"] > 0.3 > sex["champion_gap"]
    assert (
        not result.passed
        and "sex: challenger's demographic_parity_difference" in (result.reasons[0])
    )
    small = compare_live(
        log, labels, **LOOSE, max_metric_drop=1.0, sensitive_features=["sex"],
        min_group_rows=301,
    )  # fmt: skip
    assert small.cannot_judge and "fewer than two groups with 301" in small.reasons[0]


def test_a_numeric_sensitive_feature_is_binned_as_check_fairness_bins_it():
    log, labels = traffic(400, 0.8, 0.8, seed=3)
    log["age"] = 18 + (log["request_id"].str.removeprefix("req-").astype(int) % 60)
    older = (log[ENDPOINT] == SHADOW) & (log.age > 50)
    log.loc[older, "prediction"] = 1  # the challenger always says 1 past 50
    result = compare_live(
        log, labels, **LOOSE, max_metric_drop=1.0, sensitive_features=["age"],
        max_fairness_gap=0.2,
    )  # fmt: skip
    (age,) = result.fairness
    assert age["bins"] == ["[18, 32]", "(32, 46]", "(46, 61]", "(61, 77]"]
    assert [g["group"] for g in age["groups"]] == age["bins"]  # in order, not as text sorts
    assert sum(g["rows"] for g in age["groups"]) == 400
    assert age["challenger_gap"] > 0.2 and not result.cannot_judge and not result.passed
    assert "quartile bins: \\[18, 32\\], (32, 46\\]" in render_markdown(result)


def test_a_sensitive_feature_of_too_many_values_cannot_be_judged_naming_it():
    log, labels = traffic(400, 0.8, 0.8, seed=4)
    log["client"] = "c" + (log["request_id"].str.removeprefix("req-").astype(int) % 21).astype(str)
    result = compare_live(
        log, labels, **LOOSE, max_metric_drop=1.0, sensitive_features=["client"],
        min_group_rows=5,
    )  # fmt: skip
    assert result.cannot_judge and not result.passed
    assert result.reasons == [
        "CANNOT JUDGE: sensitive feature 'client' has 21 groups, more than 20 (an identifier or "
        "free text, not a group); map its values to fewer groups, or choose another feature"
    ]
    (client,) = result.fairness
    assert client["groups"] == [] and client["challenger_gap"] is None
    assert "not judged: sensitive feature 'client' has 21 groups" in render_markdown(result)
    log["client"] = log["client"].replace("c20", "c19")  # 20 groups: judged
    assert not compare_live(
        log, labels, **LOOSE, max_metric_drop=1.0, sensitive_features=["client"],
        min_group_rows=5,
    ).cannot_judge  # fmt: skip


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"min_requests": 501}, "500 paired requests < 501 (min_requests)"),
        ({"min_labelled_rows": 501}, "500 labelled paired rows < 501 (min_labelled_rows)"),
        ({"challenger_version": "7"}, "no shadow rows of version 7 (versions shadowed: ['2'])"),
    ],
)
def test_too_little_evidence_cannot_judge(change, said):
    log, labels = traffic(500, 0.8, 0.9)
    result = compare_live(log, labels, **LOOSE | change)
    assert result.cannot_judge and not result.passed and result.verdict == "CANNOT JUDGE"
    assert said in result.reasons[0]


def test_no_shadow_rows_says_how_to_start_one():
    log, labels = traffic(50, 0.8, 0.9)
    primary = log[log[ENDPOINT] == PRIMARY]
    for old in (primary.drop(columns=ENDPOINT), primary):  # a file from before `endpoint`
        result = compare_live(old, labels, **LOOSE)
        assert result.cannot_judge and "no shadow rows in the window" in result.reasons[0]
        assert "--shadow models:/NAME@challenger" in result.reasons[0]
        assert "shadow_version" in result.reasons[0]


def test_unlabelled_window_cannot_judge():
    log, _ = traffic(50, 0.8, 0.9)
    result = compare_live(log, None, **LOOSE)
    assert result.cannot_judge and "0 labelled paired rows" in result.reasons[0]
    assert result.agreement is not None  # what needs no label is still said


def test_more_than_one_version_asks_for_a_narrower_window():
    log, labels = traffic(200, 0.8, 0.9)
    later = log.request_id.str[4:].astype(int) >= 100
    log.loc[later & (log[ENDPOINT] == SHADOW), "model_version"] = "3"
    result = compare_live(log, labels, **LOOSE)
    assert result.cannot_judge and "shadow rows of versions ['2', '3']" in result.reasons[0]
    assert "challenger_version" in result.reasons[0]
    chosen = compare_live(log, labels, **LOOSE, challenger_version="3", max_metric_drop=1.0)
    assert chosen.challenger_version == "3" and chosen.counts.requests == 100
    middle = later & (log.request_id.str[4:].astype(int) < 150)
    log.loc[middle & (log[ENDPOINT] == PRIMARY), "model_version"] = "0"  # a rollback mid-window
    champions = compare_live(log, labels, **LOOSE, challenger_version="3")
    assert champions.cannot_judge and "champion versions ['0', '1']" in champions.reasons[0]


def test_unpaired_shadow_rows_are_counted_not_judged():
    log, labels = traffic(200, 0.8, 0.9, shadowed=0.5)
    result = compare_live(log, labels, **LOOSE, max_metric_drop=1.0)
    assert result.counts.requests == 100 and result.counts.unmatched_labels == 100
    cut = log[~((log[ENDPOINT] == PRIMARY) & (log.request_id == "req-0"))]
    assert compare_live(cut, labels, **LOOSE).counts.unpaired_shadow_rows == 1


def test_bad_settings_and_inputs_are_named():
    log, labels = traffic(50, 0.8, 0.9)
    with pytest.raises(ConfigError, match="metric"):
        compare_live(log, labels, metric="f2")
    with pytest.raises(ConfigError, match="bootstrap=0"):
        compare_live(log, labels, bootstrap=0)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['age'\]"):
        compare_live(log, labels, sensitive_features=["age"])
    with pytest.raises(DataError, match="none of the models' classes"):
        compare_live(log, labels.assign(label=7), **LOOSE)
    with pytest.raises(ConfigError, match="positive_label 'yes'"):
        compare_live(log, labels, positive_label="yes")


def test_report_says_the_verdict_the_interval_method_and_charts_both():
    from xml.etree import ElementTree

    from components.compare_live.chart import interval_chart, render_html
    from components.compare_live.report import metrics_of

    log, labels = traffic(300, 0.8, 0.8)
    result = compare_live(log, labels, **LOOSE, max_metric_drop=1.0)
    page = render_html(result)
    assert page.count("<svg") == 2
    ElementTree.fromstring(interval_chart(result))  # well-formed SVG
    assert "paired bootstrap over requests, 200 resamples, 95 %" in render_markdown(result)
    assert metrics_of(result)["requests"] == 300.0
    thin = compare_live(log, None, **LOOSE)
    assert render_markdown(thin).startswith("# Live comparison: CANNOT JUDGE")
    assert render_html(thin).count("<svg") == 1  # the shares; no interval without labels
    assert thin.tag("run-1")["passed"] is False and thin.tag("run-1")["labelled"] == 0


def test_the_version_tag_says_whether_it_could_judge_and_why_not():
    log, labels = traffic(300, 0.8, 0.8)
    thin = compare_live(log, None, **LOOSE).tag("run-1")
    assert thin["passed"] is False and thin["cannot_judge"] is True
    assert thin["cannot_judge_reason"].startswith("0 labelled paired rows < 10")
    worse = compare_live(*traffic(300, 0.9, 0.6), **LOOSE).tag("run-2")  # judged: failed
    assert worse["passed"] is False and worse["cannot_judge"] is False
    assert worse["cannot_judge_reason"] is None
    judged = compare_live(log, labels, **LOOSE, max_metric_drop=1.0).tag("run-3")
    assert judged["passed"] is True and judged["cannot_judge"] is False


def test_the_benchmark_runs_on_the_logs_own_schema_at_a_small_size(capsys):
    from benchmarks import compare_live as bench

    assert bench.main(["--requests", "2000", "--bootstrap", "20"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "2000 requests" in line]
    assert len(rows) == 2 and all("CANNOT JUDGE" not in row for row in rows)


def test_an_interval_from_too_few_defined_resamples_cannot_judge():
    import numpy as np

    from components.compare_live.stats import Scorer, paired_bootstrap

    # roc_auc on 20 requests, one of them positive: most draws miss it (metric undefined).
    labels = np.zeros(20)
    labels[0] = 1
    scores = np.linspace(0.1, 0.9, 20)
    scorer = Scorer.of("roc_auc", labels, labels, scores, 1)
    interval = paired_bootstrap(np.arange(20), scorer, scorer, 200, seed=0)
    assert interval.undefined > 5 and interval.too_often_undefined()
    assert f"({interval.undefined} undefined, left out)" in interval.method()
