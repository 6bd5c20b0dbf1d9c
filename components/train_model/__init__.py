"""Train a scikit-learn classifier and predict its held-out test rows."""
