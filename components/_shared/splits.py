"""The one train/test split: train_model fits on one side, evaluate_model re-makes it.

A champion's training rows are found again by re-splitting its training data with its
recorded test_size, random_seed and target_column; that only works while both steps call
this same function (the same scikit-learn call, the same arguments), hence its own module.
"""

import pandas as pd
from sklearn.model_selection import train_test_split


def split_rows(
    frame: pd.DataFrame, target_column: str, test_size: float, random_seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stratified (train, test) split of a table; the same inputs give the same rows."""
    train, test = train_test_split(
        frame, test_size=test_size, stratify=frame[target_column], random_state=random_seed
    )
    return train, test
