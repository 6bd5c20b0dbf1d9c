"""The issue 20 part 6 scenario, measured: `python -m benchmarks.fair_comparison`.

A champion trained on German credit with random_seed 42 (the demo's), a challenger with
random_seed 7, both with the training pipeline's defaults (hist_gradient_boosting,
test_size 0.25). Prints the champion's roc_auc on the challenger's whole test split and on
the rows the evaluation gate now compares (those the champion did not train on), and how
long the row hashes take for 100,000 rows.
"""

import time

import pandas as pd

from components._shared.rowhash import row_hashes
from components._shared.splits import split_rows
from components.evaluate_model.comparison import unseen_mask
from components.evaluate_model.core import PredictionColumns
from components.evaluate_model.scoring import METRICS, Scores
from components.train_model.core import train
from tests.conftest import GERMAN_CREDIT

TARGET = "risk"


def _roc_auc(model, frame: pd.DataFrame, features: list[str]) -> float:
    scores = Scores(
        frame[TARGET].to_numpy(),
        model.predict(frame[features]),
        model.predict_proba(frame[features]),
        tuple(model.classes_),
    )
    return METRICS["roc_auc"](scores)


def main() -> None:
    credit = pd.read_csv(GERMAN_CREDIT)
    champion = train(credit, TARGET, "hist_gradient_boosting", {}, 0.25, 42)
    challenger = train(credit, TARGET, "hist_gradient_boosting", {}, 0.25, 7)
    features = list(challenger.feature_columns)
    columns = PredictionColumns(TARGET, tuple(features), challenger.prediction_column, {})
    champion_train, _ = split_rows(credit, TARGET, 0.25, 42)
    test = challenger.test_frame
    mask = unseen_mask(test, columns, champion_train)
    compared = test[mask]
    print(f"test rows {len(test)}, in the champion's training set {int((~mask).sum())}")
    print(f"compared rows {len(compared)}")
    for name, fitted in (("champion", champion), ("challenger", challenger)):
        whole = _roc_auc(fitted.pipeline, test, features)
        fair = _roc_auc(fitted.pipeline, compared, features)
        print(f"{name} roc_auc: whole test split {whole:.4f}, compared rows {fair:.4f}")

    big = pd.concat([credit] * 100, ignore_index=True)
    started = time.perf_counter()
    row_hashes(big, list(big.columns))
    print(
        f"row hashes of {len(big)} rows x {len(big.columns)} columns: "
        f"{time.perf_counter() - started:.2f} s"
    )


if __name__ == "__main__":
    main()
