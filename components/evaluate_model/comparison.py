"""Challenger against champion, on test rows neither of them trained on.

The challenger's test split is held out from the challenger, but not from a champion trained
on another split (another seed, or data that overlaps): on the rows it trained on, a champion
scores far above what it scores on unseen data, and every challenger would look like a
regression. So the champion's training rows are found again (trained_on.training_rows), the
test rows whose hash is among them are left out, and both models are scored on the rest.

Too few rows left, or training rows that cannot be known, and the comparison cannot judge:
the gate then decides on thresholds alone and says why, as it does for a champion that
cannot score the rows at all.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from components._shared.registry.champion import Champion
from components._shared.rowhash import row_hashes
from components.evaluate_model.scoring import METRICS, Scores
from components.evaluate_model.trained_on import CannotJudge, TrainingRows

if TYPE_CHECKING:
    from components.evaluate_model.core import PredictionColumns, Thresholds

MIN_COMPARED_ROWS = 30  # fewer unseen rows make a delta of one or two rows' luck
FIRST_RUN, COMPARED, CANNOT_JUDGE = "first_run", "compared", "cannot_judge"
TrainedOn = Callable[[Champion, str], TrainingRows]


@dataclass(frozen=True)
class Comparison:
    """The champion comparison: its verdict, the rows it used and both models' scores on them."""

    reason: str
    passed: bool  # False only for a regression beyond max_regression
    outcome: str = FIRST_RUN  # first_run, compared or cannot_judge (never "passed")
    champion_value: float | None = None
    challenger_value: float | None = None  # the challenger's, on the compared rows
    delta: float | None = None
    test_rows: int = 0
    compared_rows: int | None = None  # None: the rows were not selected
    seen_rows: int | None = None  # test rows the champion trained on
    rows_source: str = ""  # where the champion's training rows were read from

    def rows_line(self, champion_version: int | None) -> str:
        """Which rows were compared, in one sentence ("" when none were selected)."""
        if self.compared_rows is None:
            return ""
        return (
            f"compared on {self.compared_rows} of {self.test_rows} test rows: {self.seen_rows} "
            f"were in champion v{champion_version}'s training set ({self.rows_source})"
        )


def unseen_mask(
    frame: pd.DataFrame, columns: "PredictionColumns", training: pd.DataFrame
) -> np.ndarray:
    """True for each test row whose hash is not among the training rows' hashes.

    Rows are matched on the feature and target columns both tables have.

    Raises:
        CannotJudge: The training rows lack the target column (another kind of data).
    """
    wanted = [*columns.feature_columns, columns.target_column]
    shared = [c for c in wanted if c in training.columns]
    if columns.target_column not in shared:
        raise CannotJudge(f"its training data has no column {columns.target_column!r}")
    seen = set(row_hashes(training, shared).tolist())
    return ~row_hashes(frame, shared).isin(seen).to_numpy()


def _other_classes(champion: Champion, classes: tuple) -> str | None:
    champion_classes = np.asarray(getattr(champion.model, "classes_", [])).tolist()
    if [str(c) for c in champion_classes] != [str(c) for c in classes]:
        expected = np.asarray(classes).tolist()
        return f"it predicts classes {champion_classes}, the test set has {expected}"
    return None


def _score_champion(
    champion: Champion, frame: pd.DataFrame, columns: "PredictionColumns", classes: tuple
) -> tuple[Scores | None, str | None]:
    """The champion's scores on the rows, or why it cannot score them (classes checked first)."""
    model = champion.model
    try:
        features = frame[list(columns.feature_columns)]
        scores = Scores(
            y_true=frame[columns.target_column].to_numpy(),
            y_pred=np.asarray(model.predict(features)),
            proba=np.asarray(model.predict_proba(features), dtype=float),
            classes=classes,
        )
    except Exception as exc:  # a champion trained on other columns fails in many ways
        return None, f"{type(exc).__name__}: {str(exc)[:300]}"
    return scores, None


def _cannot(champion: Champion, why: str, **rows: Any) -> Comparison:
    return Comparison(
        f"champion v{champion.version} {why}; judged on thresholds only", True, CANNOT_JUDGE, **rows
    )


def _verdict(primary: str, rows: dict, values: tuple[float, float], version: int, t: "Thresholds"):
    value, champion_value = values
    delta = value - champion_value
    text = (
        f"{primary} {value:.4f} vs champion v{version} {champion_value:.4f} on "
        f"{rows['compared_rows']} of {rows['test_rows']} test rows neither trained on "
        f"(delta {delta:+.4f}"
    )
    if not t.is_set("max_regression"):
        reason, passed = f"{text}; max_regression not set, not enforced)", True
    elif delta >= -t.max_regression:
        reason, passed = f"{text}, within max_regression {t.max_regression})", True
    else:
        reason = f"{text}): regression beyond max_regression {t.max_regression}"
        passed = False
    facts = {"champion_value": champion_value, "challenger_value": value, "delta": delta}
    return Comparison(reason, passed, COMPARED, **facts, **rows)


def compare(
    primary: str,
    scores: Scores,
    frame: pd.DataFrame,
    columns: "PredictionColumns",
    champion: Champion | None,
    thresholds: "Thresholds",
    trained_on: TrainedOn | None,
    min_rows: int = MIN_COMPARED_ROWS,
) -> Comparison:
    """Compare the challenger (its `scores` on `frame`) with the champion on unseen rows.

    Args:
        primary: The metric compared (a key of METRICS).
        scores: The challenger's scores on every row of `frame`.
        frame: The challenger's test rows with its predictions.
        columns: Where the target and features are in `frame`.
        champion: The current champion, or None (first run).
        thresholds: Holds max_regression.
        trained_on: Returns the champion's training rows or raises CannotJudge; None: they
            are unknown (cannot judge).
        min_rows: Fewest compared rows to judge on.
    """
    total = len(frame)
    if champion is None:
        return Comparison("first run: no champion to compare; judged on thresholds only", True)
    if champion.model is None:
        return _cannot(
            champion, f"could not score the test set ({champion.problem})", test_rows=total
        )
    problem = _other_classes(champion, scores.classes)
    if problem:  # whatever the rows, before reading its training data
        return _cannot(champion, f"could not score the test set ({problem})", test_rows=total)
    try:
        if trained_on is None:
            raise CannotJudge("has no known training rows")
        training = trained_on(champion, columns.target_column)
        mask = unseen_mask(frame, columns, training.frame)
    except CannotJudge as exc:
        return _cannot(champion, f"cannot be compared fairly ({exc})", test_rows=total)
    rows = {
        "test_rows": total,
        "compared_rows": int(mask.sum()),
        "seen_rows": int((~mask).sum()),
        "rows_source": training.source,
    }
    subset = frame[mask].reset_index(drop=True)
    if rows["compared_rows"] < min_rows:
        return _cannot(
            champion,
            f"cannot be compared fairly: only {rows['compared_rows']} of {total} test rows were "
            f"not in its training set, fewer than the {min_rows} needed",
            **rows,
        )
    if subset[columns.target_column].nunique() < 2:
        why = "cannot be compared fairly: the unseen rows hold a single class"
        return _cannot(champion, why, **rows)
    champion_scores, problem = _score_champion(champion, subset, columns, scores.classes)
    if champion_scores is None:
        return _cannot(champion, f"could not score the test set ({problem})", **rows)
    challenger = Scores(
        y_true=scores.y_true[mask],
        y_pred=scores.y_pred[mask],
        proba=scores.proba[mask],
        classes=scores.classes,
    )
    values = (METRICS[primary](challenger), METRICS[primary](champion_scores))
    return _verdict(primary, rows, values, champion.version, thresholds)
