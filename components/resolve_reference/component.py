"""KFP wrapper of resolve_reference: the reference data URI of a drift check and its hash."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def resolve_reference(
    model_name: str, reference_uri: str, expected_sha256: dsl.OutputPath(str)
) -> str:
    """Give the reference data of a drift check: reference_uri, or the champion's snapshot.

    With reference_uri empty, the data `models:/<model_name>@champion` in MLflow
    (MLFLOW_TRACKING_URI) was trained on: its `dataset_version` tag (a stored version,
    `dataset://NAME@sha256:HEX`, whose bytes load_data re-checks), else its `dataset_uri` tag
    pinned by its `dataset_sha256` tag.

    Args:
        model_name: Registered model whose champion's training data is the reference.
        reference_uri: Explicit reference data URI; empty means "the champion's".
        expected_sha256: Output. The hash load_data checks the bytes against: the dataset
            version's, else the champion's `dataset_sha256`; empty for a given reference_uri
            (nothing to pin it to).

    Returns:
        The reference data URI (a dataset:// version, a file, a folder or an s3:// object or
        prefix).

    Raises:
        DataError: No champion, or a champion without a dataset_uri or dataset_sha256 tag.
        ServiceError: MLflow is not configured or does not answer.
    """
    from pathlib import Path

    from components._shared.redact import redact
    from components.resolve_reference.core import resolve_reference as resolve

    reference = resolve(model_name, reference_uri)
    pinned = f", sha256 {reference.expected_sha256}" if reference.expected_sha256 else ""
    print(redact(f"reference data: {reference.uri} (from {reference.source}{pinned})"))
    Path(expected_sha256).parent.mkdir(parents=True, exist_ok=True)
    Path(expected_sha256).write_text(reference.expected_sha256)
    return reference.uri
