"""KFP wrapper of the registry push."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register_model(
    model: dsl.Input[dsl.Model],
    dataset: dsl.Input[dsl.Dataset],
    validation: dsl.Input[dsl.Artifact],
    evaluation_report: dsl.Input[dsl.Markdown],
    fairness_report: dsl.Input[dsl.Markdown],
    evaluation_blessed: bool,
    fairness_blessed: bool,
    model_name: str,
    promote: bool,
    parameters: dict,
    kfp_run_id: str,
    registered_model: dsl.Output[dsl.Artifact],
    lineage: dsl.Output[dsl.Artifact],
    model_card: dsl.Output[dsl.Markdown],
):
    """Register the model in MLflow only when every gate blessed it, with lineage and a card.

    Logs an MLflow run (experiment = model_name) with parameters, evaluation and fairness
    numbers and the model (skops with an explicit trusted-type list, explicit pinned
    pip_requirements); creates a model version carrying the lineage tags (dataset URI, sha256
    and rows, suite hash, package version, git commit, image, KFP run id, parameters, gate
    results). Run, logged model and version are found-or-created by the attempt's key
    (kfp_run_id + model sha256), so a retried step or a lost reply never makes a second one.
    Then, holding the model's lease lock on S3 (KFP_MLOPS_LOCK_URI, default
    s3://kfp-mlops-data/locks/), sets alias `challenger`, and `champion` when `promote` is on,
    the model is not worse than the champion the evaluation compared with, and that champion
    is still the champion; each move is recorded (`kfp-mlops history`) before it is made.
    MLflow's endpoint comes from MLFLOW_TRACKING_URI, S3's from AWS_ENDPOINT_URL_S3. With
    KFP_MLOPS_MODEL_SIGNING_PEM naming an EC private key (the Secret kfp-mlops-model-signing,
    mounted into this step alone), the model file and the version's lineage tags are signed
    (OpenSSF Model Signing): model.sig is stored beside the model file and recorded in the
    version's model_signature tag; every later load verifies it.

    Args:
        model: The skops model from train_model (metadata estimator, hyperparameters,
            classes, feature_columns, skops_trusted_types, sha256).
        dataset: The snapshot from load_data (metadata source_uri, sha256, rows).
        validation: The GX result from validate_data (metadata suite_sha256, success).
        evaluation_report: The evaluation gate's report (metadata primary_metric,
            primary_value, champion_version, champion_value, delta, passed, reasons).
        fairness_report: The fairness gate's report (metadata passed, reasons, per_feature).
        evaluation_blessed: The evaluation gate's verdict; False registers nothing.
        fairness_blessed: The fairness gate's verdict; False registers nothing.
        model_name: Registered model name (letters, digits, '_', '.', '-').
        promote: Move `champion` to this version when it is not worse than the champion.
        parameters: Pipeline parameters to record as lineage (JSON values).
        kfp_run_id: The KFP run id (dsl.PIPELINE_JOB_ID_PLACEHOLDER); the retry key.
        registered_model: Output; metadata registered, name, version, aliases, run_id,
            promoted, reason, previous_champion_version.
        lineage: Output lineage JSON (also logged on the MLflow run as lineage.json).
        model_card: Output Markdown model card (also logged on the run as model_card.md).

    Raises:
        ConfigError: KFP_MLOPS_MODEL_SIGNING_PEM names no file or no usable EC private key.
        ServiceError: MLflow or S3 is not configured or does not answer, or another run
            holds the registry lock too long; names the endpoint and the step. No version is
            half-registered and no alias moves before its record and tags.
        DataError: The model file does not match the sha256 train_model recorded.
    """
    import json

    from components._shared.io import read_parquet
    from components._shared.reports.markdown import write_text
    from components.register_model.core import Candidate
    from components.register_model.core import register_model as register

    features = list(model.metadata.get("feature_columns") or [])
    frame = read_parquet(dataset.path)
    sample = frame[features].head(5) if set(features) <= set(frame.columns) else None
    candidate = Candidate(
        model_path=model.path,
        model=dict(model.metadata),
        dataset=dict(dataset.metadata),
        validation=dict(validation.metadata),
        evaluation=dict(evaluation_report.metadata),
        fairness=dict(fairness_report.metadata),
        evaluation_blessed=evaluation_blessed,
        fairness_blessed=fairness_blessed,
        parameters=dict(parameters),
        kfp_run_id=kfp_run_id,
        sample=sample if features else None,
    )
    result = register(candidate, model_name=model_name, promote=promote)
    registered_model.metadata.update(result.metadata())
    write_text(lineage.path, json.dumps(result.lineage, indent=2, sort_keys=True, default=str))
    write_text(model_card.path, result.model_card)
    model_card.metadata.update(name=model_name, version=result.version)
