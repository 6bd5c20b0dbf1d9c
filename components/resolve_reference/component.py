"""KFP wrapper of resolve_reference: the reference data URI of a drift check."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def resolve_reference(model_name: str, reference_uri: str) -> str:
    """Give the reference data of a drift check: reference_uri, or the champion's snapshot.

    With reference_uri empty, the `dataset_uri` tag of `models:/<model_name>@champion` in
    MLflow (MLFLOW_TRACKING_URI) is used: the data the champion was trained on.

    Args:
        model_name: Registered model whose champion's training data is the reference.
        reference_uri: Explicit reference data URI; empty means "the champion's".

    Returns:
        The reference data URI (a file, a folder or an s3:// object or prefix).

    Raises:
        DataError: No champion, or a champion without a dataset_uri tag.
        ServiceError: MLflow is not configured or does not answer.
    """
    from components.resolve_reference.core import resolve_reference as resolve

    reference = resolve(model_name, reference_uri)
    print(f"reference data: {reference.uri} (from {reference.source})")
    return reference.uri
