"""KFP wrapper of list_models: the models of a fleet run and where their data lives."""

from kfp import dsl

from components._shared.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def list_models(
    model_names: list,
    registry_filter: str,
    predictions_prefix: str,
    labels_prefix: str,
    max_models: int,
) -> list:
    """List the models a fleet run monitors, each with its prediction log and labels prefix.

    Args:
        model_names: Registered model names; empty when registry_filter names them.
        registry_filter: An MLflow search_registered_models filter (e.g. "name LIKE
            'credit-%'"); empty when model_names lists them.
        predictions_prefix: The prediction logs' prefix: a model's log is
            <predictions_prefix>/<model>/.
        labels_prefix: The labels' prefix: a model's labels are <labels_prefix>/<model>/;
            empty: no labels (no live performance check, no retrain from the log).
        max_models: The most models one run takes (at most 200; split a larger fleet).

    Returns:
        One dict per model: model_name, predictions_uri, labels_uri.

    Raises:
        ConfigError: Both or neither of model_names and registry_filter, a bad or repeated
            name, nothing matched, or more than max_models models.
        ServiceError: MLflow does not answer or refuses the filter.
    """
    from components._shared.errors import ConfigError
    from components._shared.registry.fleet import search_model_names
    from components.list_models.core import MAX_MODELS, fleet_models

    if not 1 <= int(max_models) <= MAX_MODELS:
        raise ConfigError(f"max_models {max_models}: expected 1..{MAX_MODELS}")
    models = fleet_models(
        model_names, registry_filter, predictions_prefix, labels_prefix,
        search_model_names, int(max_models),
    )  # fmt: skip
    print(f"{len(models)} models: {', '.join(m['model_name'] for m in models)}")
    return models
