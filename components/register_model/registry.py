"""The MLflow side of registration: fail-fast client, idempotent run/version, aliases."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as installed
from urllib.parse import urlparse

from components._shared.errors import ServiceError
from components._shared.settings import MLFLOW_URI_ENV, mlflow_tracking_uri

# An unreachable server must fail in seconds, not after MLflow's default ~4 minutes of retries.
FAST_FAIL_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
# What a serving environment needs to load the skops file; pinned to what trained it.
RUNTIME_PACKAGES = ("scikit-learn", "skops", "numpy", "pandas", "scipy")
NOTHING_REGISTERED = "nothing was registered; re-run the step once MLflow answers"


def pip_requirements() -> list[str]:
    """Explicit pins (inferring them costs seconds per model and guesses)."""
    return [f"{name}=={installed(name)}" for name in RUNTIME_PACKAGES]


def _redacted(uri: str) -> str:
    """The tracking URI without any user:password part, safe for messages."""
    parsed = urlparse(uri)
    if parsed.password or parsed.username:
        return parsed._replace(
            netloc=parsed.hostname + (f":{parsed.port}" if parsed.port else "")
        ).geturl()
    return uri


def _short(exc: Exception, uri: str, where: str) -> str:
    """The first line of an error, without the credentials a tracking URI may carry."""
    lines = str(exc).replace(uri, where).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"


class Registry:
    """An MLflow client whose every failure is a ServiceError naming the endpoint and the step."""

    def __init__(self) -> None:
        from mlflow import MlflowClient

        for key, value in FAST_FAIL_ENV.items():
            os.environ.setdefault(key, value)  # an operator's own setting wins
        uri = mlflow_tracking_uri()
        self.uri, self.where = uri, _redacted(uri)
        # No mlflow.set_tracking_uri: that process-wide setting would outlive this step
        # (and leak into later callers); the fluent API reads MLFLOW_TRACKING_URI itself.
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        with self.step("connecting", NOTHING_REGISTERED):
            self.client.search_experiments(max_results=1)

    @contextmanager
    def step(self, doing: str, state: str) -> Iterator[None]:
        """Turn any MLflow or network failure while `doing` into a ServiceError."""
        try:
            yield
        except ServiceError:
            raise
        except Exception as exc:  # MlflowException, requests and urllib3 errors alike
            error = ServiceError(
                f"MLflow at {self.where} ({MLFLOW_URI_ENV}) failed while {doing}: "
                f"{_short(exc, self.uri, self.where)}; {state}"
            )
            # A chained traceback would print credentials embedded in the URI.
            raise error from (None if self.uri != self.where else exc)

    def find_version(self, name: str, key: dict[str, str]) -> tuple[int, str | None] | None:
        """The version an earlier attempt registered under this idempotency key, if any."""
        where = " and ".join(f"tags.{k} = '{v}'" for k, v in key.items())
        with self.step("looking for an earlier registration", NOTHING_REGISTERED):
            found = self.client.search_model_versions(f"name = '{name}' and {where}")
        if not found:
            return None
        first = min(found, key=lambda v: int(v.version))
        return int(first.version), first.run_id

    def _experiment_id(self, name: str) -> str:
        experiment = self.client.get_experiment_by_name(name)
        return experiment.experiment_id if experiment else self.client.create_experiment(name)

    def log_run(self, name: str, key: dict[str, str], model, model_types, params, metrics, sample):
        """Log the run and the model once per key; a retry reuses a finished earlier run."""
        import mlflow

        with self.step("logging the run and the model", NOTHING_REGISTERED):
            experiment_id = self._experiment_id(name)
            where = " and ".join(f"tags.{k} = '{v}'" for k, v in key.items())
            for run in self.client.search_runs(
                [experiment_id], f"{where} and attributes.status = 'FINISHED'"
            ):
                if run.data.tags.get("model_uri"):
                    return run.info.run_id, run.data.tags["model_uri"], run.data.tags["model_id"]
            signature = None
            if sample is not None and len(sample):
                signature = mlflow.models.infer_signature(sample, model.predict(sample))
            with mlflow.start_run(experiment_id=experiment_id, tags=key) as run:
                mlflow.log_params(params)
                mlflow.log_metrics(metrics)
                info = mlflow.sklearn.log_model(
                    model,
                    name="model",
                    serialization_format="skops",
                    skops_trusted_types=model_types,
                    pip_requirements=pip_requirements(),
                    signature=signature,
                )
                # Marks the run as complete for a retry (set only after the model is logged).
                mlflow.set_tags({"model_uri": info.model_uri, "model_id": info.model_id})
            return run.info.run_id, info.model_uri, info.model_id

    def create_version(self, name, run_id, model_uri, model_id, tags, description) -> int:
        """Create the version with all its tags in one call, so it never exists without them."""
        from mlflow.exceptions import MlflowException

        # If only the answer was lost, the version exists with its tags and a retry finds it.
        state = "no version, or a fully tagged one a retry reuses; re-run the step"
        with self.step("registering the model version", state):
            try:
                self.client.create_registered_model(
                    name, description="Registered by kfp-mlops register_model."
                )
            except MlflowException as exc:
                if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                    raise
            created = self.client.create_model_version(
                name=name,
                source=model_uri,
                run_id=run_id,
                tags=tags,
                description=description,
                model_id=model_id,
            )
        return int(created.version)

    def aliases(self, name: str, state: str) -> dict[str, int]:
        """The model's aliases right now (alias -> version)."""
        with self.step("reading the aliases", state):
            model = self.client.get_registered_model(name)
        return {alias: int(v) for alias, v in (model.aliases or {}).items()}

    def set_alias(self, name: str, alias: str, version: int, state: str) -> None:
        """Point an alias at a version."""
        with self.step(f"setting alias {alias!r}", state):
            self.client.set_registered_model_alias(name, alias, str(version))

    def set_tags(self, name: str, version: int, tags: dict[str, str], state: str) -> None:
        """Set tags on a model version."""
        with self.step("tagging the model version", state):
            for key, value in tags.items():
                self.client.set_model_version_tag(name, str(version), key, value)

    def log_record(self, run_id: str, lineage: dict, card: str, state: str) -> None:
        """Attach the lineage JSON and the model card to the run (overwritten on a retry)."""
        with self.step("logging the lineage and the model card", state):
            self.client.log_dict(run_id, lineage, "lineage.json")
            self.client.log_text(run_id, card, "model_card.md")
