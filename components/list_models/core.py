"""Which models a fleet run monitors, and where each one's data lives; pure but for the lookup.

A fleet run takes an explicit list (`model_names`) or an MLflow registry filter
(`registry_filter`), never both, never neither. It refuses more than MAX_MODELS models: on KFP
2.5 a ParallelFor of very many iterations breaks the run's DAG updates
(kubeflow/pipelines#12131), and every iteration costs pods. A larger fleet is split into runs
of at most MAX_MODELS models (by name prefix, or by explicit lists).
"""

from collections.abc import Callable

from components._shared.errors import ConfigError

MAX_MODELS = 200


def _prefix(uri: str) -> str:
    return uri if not uri or uri.endswith("/") else uri + "/"


def check_choice(model_names: list, registry_filter: str) -> None:
    """Refuse both or neither of the two ways to name the models."""
    if model_names and registry_filter.strip():
        raise ConfigError(
            "pass model_names or registry_filter, not both: model_names lists the models "
            "itself; registry_filter asks the registry for them"
        )
    if not model_names and not registry_filter.strip():
        raise ConfigError(
            "no models to monitor: pass model_names (a list of registered model names) or "
            "registry_filter (an MLflow filter, e.g. \"name LIKE 'credit-%'\")"
        )


def fleet_models(
    model_names: list,
    registry_filter: str,
    predictions_prefix: str,
    labels_prefix: str,
    search: Callable[[str, int], list[str]],
    max_models: int = MAX_MODELS,
) -> list[dict]:
    """One item per model: its name and its prediction log and labels prefixes.

    `search(filter, limit)` lists names matching a registry filter (up to limit + 1).

    Raises:
        ConfigError: both or neither of model_names and registry_filter; a name that is not
            a non-empty string or appears twice; no model matches the filter; more than
            max_models models.
    """
    check_choice(model_names, registry_filter)
    if model_names:
        bad = [n for n in model_names if not isinstance(n, str) or not n.strip()]
        if bad:
            raise ConfigError(f"model_names: {bad!r} are not model names (non-empty strings)")
        names = [n.strip() for n in model_names]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"model_names: {twice} appear more than once; list each once")
    else:
        names = search(registry_filter, max_models)
        if not names:
            raise ConfigError(
                f"no registered model matches registry_filter {registry_filter!r}; "
                "`kfp-mlops models` lists them"
            )
    if len(names) > max_models:
        raise ConfigError(
            f"{'over ' if not model_names else ''}{len(names)} models: a fleet run monitors at "
            f"most {max_models} (kubeflow/pipelines#12131: very many ParallelFor iterations "
            "break DAG updates); split the fleet into runs of at most "
            f"{max_models} (narrower registry filters, or shorter model_names lists)"
        )
    predictions, labels = _prefix(predictions_prefix), _prefix(labels_prefix)
    return [
        {
            "model_name": name,
            "predictions_uri": f"{predictions}{name}/",
            "labels_uri": f"{labels}{name}/" if labels else "",
        }
        for name in names
    ]
