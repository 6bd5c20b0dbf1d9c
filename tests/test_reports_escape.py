"""Report spoofing: names and values from data cannot forge a line, a table row or HTML.

Each report renderer runs on a frame whose column, category, class and sensitive-group names
are hostile; no line of its output may start with a forged heading, no raw `<script>` may
appear, and every table keeps its column count.
"""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from components._shared.registry.champion import Champion
from components._shared.reports.markdown import markdown_table, md_text
from components.check_fairness.core import check_fairness
from components.check_fairness.report import render_report
from components.detect_drift.core import detect_drift
from components.detect_drift.report import render_html, render_markdown
from components.evaluate_model.core import PredictionColumns, Thresholds, evaluate
from components.evaluate_model.report import render_markdown as render_evaluation
from components.register_model.card import render_card
from components.validate_data.core import validate
from kfp_mlops.runs.render import render_text

FORGED = "x\n# Evaluation: PASSED"
SCRIPT = "<script>alert(1)</script>"
PIPE = "a|b"
CODE = "`code`"
# More ways to end a line: CR, CRLF with a forged table row, Unicode line/paragraph separators.
FORGED_ROW = "y\r\n| forged | row |"
SEPARATED = "z\u2028# Drift: NO DRIFT\u2029- ok"
HOSTILE = (FORGED, SCRIPT, PIPE, CODE, FORGED_ROW, SEPARATED)


def cells(line: str) -> int:
    """Cells of a Markdown table row: pipes not escaped by a backslash, minus one."""
    pipes, escaped = 0, False
    for ch in line:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            pipes += 1
    return pipes - 1


def tables(text: str) -> list[list[str]]:
    """Runs of consecutive lines that start with a pipe."""
    found: list[list[str]] = []
    previous = False
    for line in text.splitlines():
        row = line.startswith("|")
        if row and not previous:
            found.append([])
        if row:
            found[-1].append(line)
        previous = row
    return found


def assert_not_spoofed(text: str, heading: str) -> None:
    """Only our own heading is a title; no raw HTML; every table row has the header's cells."""
    # splitlines breaks on every separator a renderer might honour (\r, \u2028, ...), so a
    # line here is at least as fine-grained as any reader's.
    lines = text.splitlines()
    assert lines[0].startswith(heading)
    assert [line for line in lines if line.lstrip().startswith("# ")] == [lines[0]]
    forged = ("# Evaluation", "# Drift", "| forged")
    assert not any(line.lstrip().startswith(forged) for line in lines[1:])
    assert "<script" not in text.lower() and "</script" not in text.lower()
    found = tables(text)
    assert found, "the report has no table to check"
    for table in found:
        assert {cells(row) for row in table} == {cells(table[0])}, table


def assert_shown_escaped(text: str) -> None:
    """The hostile names are in the report (escaped), not dropped."""
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "a\\|b" in text and "\\`code\\`" in text
    assert "x # Evaluation: PASSED" in text


def test_md_text_known_answers():
    assert md_text(FORGED) == "x # Evaluation: PASSED"
    assert md_text(SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert md_text(PIPE) == "a\\|b"
    assert md_text(CODE) == "\\`code\\`"
    assert md_text("a\\") == "a\\\\"  # a trailing backslash cannot escape the next pipe
    assert md_text("# title") == "\\# title" and md_text("- item") == "\\- item"
    assert md_text("1. first") == "1\\. first" and md_text("**bold**") == "\\*\\*bold\\*\\*"
    assert md_text("[link](http://x)") == "\\[link\\](http://x)"
    # Plain names and numbers stay readable.
    assert md_text("credit_amount") == "credit_amount" and md_text("-0.25") == "-0.25"
    assert md_text("__init__") == "\\_\\_init\\_\\_"


def test_markdown_table_keeps_its_columns_whatever_the_cells_hold():
    text = markdown_table(["name", "value"], [(name, name) for name in HOSTILE] + [("a\\", 1)])
    assert {cells(line) for line in text.splitlines()} == {2}
    assert len(text.splitlines()) == 2 + len(HOSTILE) + 1


def test_fairness_report_hostile_feature_and_group_names_are_escaped():
    n = 48
    groups = [PIPE, CODE, SCRIPT, FORGED_ROW] * (n // 4)
    frame = pd.DataFrame(
        {
            FORGED: groups,
            SCRIPT: [SEPARATED, FORGED] * (n // 2),
            "y": [FORGED, CODE] * (n // 2),
            # The first group is always selected: a disparity, so the reasons name the feature.
            "pred": [FORGED if g == PIPE else CODE for g in groups],
        }
    )
    result = check_fairness(
        frame,
        target_column="y",
        prediction_column="pred",
        classes=[CODE, FORGED],
        sensitive_features=[FORGED, SCRIPT],
        max_demographic_parity_difference=0.1,
        max_equalized_odds_difference=-1.0,
        positive_label="",
    )
    assert not result.passed and any("Evaluation" in r for r in result.reasons)
    text = render_report(result)
    assert_not_spoofed(text, "# Fairness gate: REJECTED")
    assert_shown_escaped(text)


def test_evaluation_report_hostile_class_names_and_champion_classes_are_escaped():
    y_true = [FORGED, PIPE] * 5
    # Half right: rejected at min_accuracy 0.9, so a forged "PASSED" line would contradict it.
    frame = pd.DataFrame({"x": np.arange(10, dtype=float), "y": y_true, "pred": FORGED})
    frame["p0"], frame["p1"] = 1.0, 0.0
    model = DummyClassifier(strategy="most_frequent").fit(frame[["x"]], frame["y"])
    columns = PredictionColumns(
        target_column="y",
        feature_columns=("x",),
        prediction_column="pred",
        proba_columns={str(c): p for c, p in zip(model.classes_, ("p0", "p1"), strict=True)},
    )
    # A champion with other classes: the comparison reason quotes both class lists.
    other = DummyClassifier().fit(frame[["x"]], [SCRIPT, CODE] * 5)
    result = evaluate(
        frame, columns, model, "accuracy", Thresholds(min_accuracy=0.9), lambda: Champion(2, other)
    )
    assert any(SCRIPT in r for r in result.reasons)
    text = render_evaluation(result)
    assert_not_spoofed(text, "# Evaluation: REJECTED")
    assert_shown_escaped(text)


def drift_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)

    def make(n: int, shift: float, categories: list[str]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                FORGED: rng.normal(shift, 1, n),
                SCRIPT: rng.choice(categories, n),
                PIPE: rng.normal(0, 1, n),
                CODE: rng.choice([FORGED_ROW, SEPARATED], n),
            }
        )

    # Current data drifts and brings categories the reference never had (listed as unseen).
    return make(300, 0.0, [PIPE, CODE]), make(300, 3.0, [PIPE, SCRIPT, FORGED])


def test_drift_markdown_hostile_column_and_category_names_are_escaped():
    result = detect_drift(*drift_frames())
    assert result.drifted
    text = render_markdown(result)
    assert_not_spoofed(text, "# Drift: DRIFTED")
    assert_shown_escaped(text)


def test_drift_html_hostile_names_are_html_escaped():
    result = detect_drift(*drift_frames())
    page = render_html(result)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # One row per column plus the header: no name opened or closed a row or a cell.
    assert page.count("<tr>") == page.count("</tr>") == len(result.columns) + 1
    assert page.count("<td") == len(result.columns) * 10


def test_validation_report_hostile_column_names_and_values_are_escaped():
    frame = pd.DataFrame(
        {FORGED: [PIPE, SCRIPT, FORGED, "ok"] * 5, CODE: range(20), "y": [0, 1] * 10}
    )
    suite = {
        "name": FORGED_ROW,
        "expectations": [
            {"type": "expect_column_to_exist", "kwargs": {"column": CODE}},
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": FORGED, "value_set": ["ok"]},
            },
        ],
    }
    result = validate(frame, "y", suite, 1)
    assert not result.success
    text = result.markdown()
    assert_not_spoofed(text, "# Data validation: FAILED")
    assert_shown_escaped(text)


def card_lineage() -> dict:
    """A lineage record as register_model builds it, with data names in every slot."""
    groups = {g: {"count": 10, "selection_rate": 0.5, "tpr": 0.5, "fpr": 0.5} for g in HOSTILE}
    return {
        "registration": {
            "registered": True,
            "name": "m",
            "version": 1,
            "aliases": ["champion"],
            "reason": "first blessed model",
        },
        "model": {
            "classes": [FORGED, SCRIPT],
            "feature_columns": [PIPE, CODE, FORGED_ROW],
            "target_column": SEPARATED,
            "estimator": "logistic_regression",
            "sha256": "0" * 64,
            "hyperparameters": {FORGED: SCRIPT},
        },
        "dataset": {"uri": f"s3://b/{SCRIPT}", "sha256": "1" * 64, "rows": 10},
        "validation": {"suite_sha256": "2" * 64, "success": True},
        "evaluation": {"primary_metric": "accuracy", "reasons": [f"classes {[FORGED, SCRIPT]}"]},
        "fairness": {
            "reasons": [f"demographic parity difference by {FORGED!s} is 0.5 > 0.1"],
            "per_feature": {FORGED: {"groups": groups}, SCRIPT: {"groups": groups}},
        },
        "gates": {"evaluation": True, "fairness": False},
    }


def test_model_card_hostile_names_are_escaped():
    text = render_card(card_lineage(), {"dataset_uri": f"s3://b/{FORGED_ROW}"})
    assert_not_spoofed(text, "# Model card: m v1")
    assert_shown_escaped(text)


@pytest.mark.parametrize("name", HOSTILE)
def test_every_hostile_name_is_one_line_without_raw_markup(name):
    escaped = md_text(name)
    assert len(escaped.splitlines()) == 1
    assert not re.search(r"(?<!\\)[`|*\[\]]|<|>", escaped)


def test_terminal_summary_shows_hostile_reasons_on_their_own_line_without_control_codes():
    gate = {"passed": False, "metrics": {}, "reasons": [f"{h} drifted" for h in HOSTILE]}
    summary = {
        "pipeline": "monitoring",
        "status": "failed",
        "failed_task": "detect-drift",
        "reference_uri": f"s3://b/{FORGED}",
        "gates": {"drift": gate, "validation": None},
        "model": None,
        "error": f"DataError: column {FORGED_ROW!s} \x1b[2J\x1b[1;32mPASSED",
        "run_dir": "runs/x",
    }
    text = render_text(summary)
    lines = text.splitlines()
    # Every line is one the summary writes: blank, the headline, or indented by two spaces.
    assert all(line == "" or line.startswith(("Pipeline monitoring:", "  ")) for line in lines)
    plain = {**gate, "reasons": ["plain"] * len(HOSTILE)}
    plain_summary = {**summary, "gates": {"drift": plain, "validation": None}, "error": "x"}
    assert len(lines) == len(render_text(plain_summary).splitlines())  # one line per reason
    assert "\x1b" not in text and "\\x1b[2J" in text and "x\\n# Evaluation: PASSED" in text
