"""Registry look-ups of a fleet run: which models a filter names, what a run registered."""

from components._shared.registry.champion import _service_error
from components._shared.registry.client import mlflow_client
from components._shared.settings import mlflow_tracking_uri

PAGE = 1000  # search_registered_models' largest page


def search_model_names(registry_filter: str, limit: int) -> list[str]:
    """Names of the registered models matching an MLflow filter, sorted, at most `limit` + 1.

    One more than `limit` lets the caller tell "exactly the cap" from "over it" without
    listing a registry of thousands.

    Raises:
        ServiceError: MLflow does not answer, or refuses the filter (its message says why).
    """
    uri = mlflow_tracking_uri()
    client = mlflow_client(uri)
    names: list[str] = []
    token = None
    try:
        while len(names) <= limit:
            page = client.search_registered_models(
                filter_string=registry_filter, max_results=PAGE, page_token=token
            )
            names += [m.name for m in page]
            token = page.token
            if not token:
                break
    except Exception as exc:
        raise _service_error(uri, exc, f"listing models matching {registry_filter!r}") from exc
    return sorted(names)[: limit + 1]


def versions_of_run(model_name: str, kfp_run_id: str) -> list[int]:
    """Versions of a model registered by one KFP run (their kfp_run_id tag), ascending.

    Raises:
        ServiceError: MLflow does not answer.
    """
    uri = mlflow_tracking_uri()
    client = mlflow_client(uri)
    quoted, run = (v.replace("'", "\\'") for v in (model_name, kfp_run_id))
    try:  # filtered by MLflow: not every version of the model with all its tags
        found = client.search_model_versions(f"name = '{quoted}' and tags.kfp_run_id = '{run}'")
    except Exception as exc:
        raise _service_error(uri, exc, f"listing the versions of {model_name!r}") from exc
    return sorted(int(v.version) for v in found if v.tags.get("kfp_run_id") == kfp_run_id)
