"""KFP wrapper of train_model: read the dataset, train, write model, predictions and metrics."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_model(
    dataset: dsl.Input[dsl.Dataset],
    target_column: str,
    estimator: str,
    hyperparameters: dict,
    test_size: float,
    random_seed: int,
    model: dsl.Output[dsl.Model],
    predictions: dsl.Output[dsl.Dataset],
    metrics: dsl.Output[dsl.Metrics],
):
    """Train a scikit-learn classifier (preprocessing + estimator) on a stratified split.

    Numeric columns are median-imputed (and standardised for linear models); text columns
    are imputed with the most frequent value and one-hot encoded. The same inputs always
    give the same model and predictions. Bad inputs (unknown estimator or hyperparameter,
    test_size outside (0, 1)) fail before any training.

    Args:
        dataset: Parquet table with the features and the target column.
        target_column: Name of the class label column (binary or multiclass).
        estimator: One of hist_gradient_boosting, logistic_regression, random_forest.
        hyperparameters: Estimator parameters by name, e.g. {"max_depth": 3}; {} for defaults.
        test_size: Fraction of rows held out for testing, strictly between 0 and 1.
        random_seed: Seed of the split and of the estimator.
        model: Output skops file of the fitted sklearn Pipeline. Metadata: framework,
            estimator, hyperparameters, target_column, feature_columns, classes,
            skops_trusted_types, sha256.
        predictions: Output Parquet of the held-out rows (features, target) plus the
            prediction column and one probability column per class. Metadata:
            target_column, feature_columns, prediction_column, proba_columns (class ->
            column), classes, rows.
        metrics: Output numbers: train_rows, test_rows, features, classes, train_accuracy,
            test_accuracy.
    """
    import hashlib
    from pathlib import Path

    from components._shared.io import read_parquet, write_parquet
    from components._shared.model_io import save_model
    from components.train_model.core import train

    frame = read_parquet(dataset.path)
    result = train(frame, target_column, estimator, hyperparameters, test_size, random_seed)

    trusted = save_model(result.pipeline, model.path)
    model.metadata.update(
        framework="sklearn",
        estimator=estimator,
        hyperparameters=hyperparameters,
        target_column=target_column,
        feature_columns=list(result.feature_columns),
        classes=list(result.classes),
        skops_trusted_types=trusted,
        sha256=hashlib.sha256(Path(model.path).read_bytes()).hexdigest(),
    )
    write_parquet(result.test_frame, predictions.path)
    predictions.metadata.update(
        target_column=target_column,
        feature_columns=list(result.feature_columns),
        prediction_column=result.prediction_column,
        proba_columns=result.proba_columns,
        classes=list(result.classes),
        rows=len(result.test_frame),
    )
    for name, value in result.metrics.items():
        metrics.log_metric(name, value)
