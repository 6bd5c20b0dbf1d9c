"""The one MLflow client and its policy; registration's idempotent run and version; aliases."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as installed
from pathlib import Path

from components._shared.errors import ServiceError
from components._shared.failpoints import failpoint
from components._shared.redact import redact, redact_uri
from components._shared.settings import MLFLOW_URI_ENV, mlflow_tracking_uri

# The one client policy, for every MLflow call of the project (registration, loading, lookups).
# An unreachable server must fail in seconds, not after MLflow's default ~4 minutes of retries;
# a hung one after 30 s (the longest any call took before the policies were one: uploads of a
# model through the artifact proxy); no progress bars in step logs. An operator's own setting
# of these wins.
CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
# MLflow's HTTP session retries every method, POST included (urllib3 Retry with
# allowed_methods=None, mlflow/utils/request_utils.py): a create whose reply was lost would be
# sent again and make a second run or version. So no client retries at all; a failed create
# is followed by a lookup by the attempt's key, and KFP retries the whole step.
NO_RETRY_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
# What a serving environment needs to load the skops file; pinned to what trained it.
RUNTIME_PACKAGES = ("scikit-learn", "skops", "numpy", "pandas", "scipy")
NOTHING_REGISTERED = "nothing was registered; re-run the step once MLflow answers"


def pip_requirements() -> list[str]:
    """Explicit pins (inferring them costs seconds per model and guesses)."""
    return [f"{name}=={installed(name)}" for name in RUNTIME_PACKAGES]


def _short(exc: Exception) -> str:
    """The first line of an error, with credentials masked."""
    lines = redact(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"


def apply_client_policy() -> None:
    """Set the one policy in this process's environment, where MLflow reads it on every call.

    The same values whichever caller comes first (registration, a load, a lookup), so the
    policy never depends on call order.
    """
    for key, value in CLIENT_ENV.items():
        os.environ.setdefault(key, value)  # an operator's own setting wins
    os.environ.update(NO_RETRY_ENV)  # not the operator's choice: see NO_RETRY_ENV


def mlflow_client(uri: str):
    """An MlflowClient for `uri` (tracking and registry) under the one policy."""
    from mlflow import MlflowClient

    apply_client_policy()
    # No mlflow.set_tracking_uri: that process-wide setting would outlive this step
    # (and leak into later callers); the fluent API reads MLFLOW_TRACKING_URI itself.
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _filter(key: dict[str, str]) -> str:
    return " and ".join(f"tags.{k} = '{v}'" for k, v in key.items())


class Registry:
    """An MLflow client whose every failure is a ServiceError naming the endpoint and the step."""

    def __init__(self) -> None:
        uri = mlflow_tracking_uri()
        self.uri, self.where = uri, redact_uri(uri)
        self.client = mlflow_client(uri)
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
                f"{_short(exc)}; {state}"
            )
            # A chained traceback would print credentials embedded in the URI.
            raise error from (None if self.uri != self.where else exc)

    def find_version(self, name: str, key: dict[str, str]) -> tuple[int, str | None] | None:
        """The version an earlier attempt registered under this idempotency key, if any."""
        with self.step("looking for an earlier registration", NOTHING_REGISTERED):
            found = self.client.search_model_versions(f"name = '{name}' and {_filter(key)}")
        if not found:
            return None
        first = min(found, key=lambda v: int(v.version))
        return int(first.version), first.run_id

    def _log_model(
        self, experiment_id, run_id, model, model_path, model_types, signature, beside
    ) -> tuple[str, str]:
        """The run's logged model (uri, id): one an earlier attempt finished, else logged now.

        Logged into the model an earlier try left pending (a create whose reply was lost, or
        an upload cut short), so a run never gets a second logged model. The stored model
        file is the trained file itself (its sha256 is the version's model_sha256 tag, which
        every load checks); mlflow.sklearn.log_model would store a re-dump with other bytes.
        """
        import mlflow
        from mlflow.entities import LoggedModelStatus

        from components._shared.model_io import SkopsFileFlavor

        def log(model_id: str | None):
            return mlflow.models.Model.log(
                None,  # artifact_path: deprecated, still positional
                flavor=SkopsFileFlavor(model_path, beside),
                sk_model=model,
                name="model",
                serialization_format="skops",
                skops_trusted_types=model_types,
                pip_requirements=pip_requirements(),
                signature=signature,
                model_id=model_id,
            )

        earlier = self._logged_model(experiment_id, run_id)
        if earlier is not None and earlier.status == LoggedModelStatus.READY:
            return earlier.model_uri, earlier.model_id
        pending = earlier.model_id if earlier else None
        try:
            info = log(pending)
        except Exception:
            found = self._logged_model(experiment_id, run_id)
            if found is None or found.model_id == pending:
                raise
            info = log(found.model_id)  # the create happened; only its reply was lost
        return info.model_uri, info.model_id

    def find_or_create(self, find, create):
        """`find()`, else `create()`; after a failed create, `find()` again before failing.

        A create whose reply was lost may have happened: the lookup by the attempt's key
        finds it, so one attempt never makes two objects.
        """
        found = find()
        if found is not None:
            return found
        try:
            return create()
        except Exception:
            found = find()
            if found is None:
                raise
            return found

    def _experiment_id(self, name: str) -> str:
        def find():
            experiment = self.client.get_experiment_by_name(name)
            return experiment.experiment_id if experiment else None

        return self.find_or_create(find, lambda: self.client.create_experiment(name))

    def _run_id(self, experiment_id: str, key: dict[str, str]) -> str:
        def find():
            runs = self.client.search_runs(
                [experiment_id], _filter(key), order_by=["attributes.start_time ASC"]
            )
            return runs[0].info.run_id if runs else None

        return self.find_or_create(
            find, lambda: self.client.create_run(experiment_id, tags=key).info.run_id
        )

    def _logged_model(self, experiment_id: str, run_id: str):
        found = self.client.search_logged_models(
            [experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        return min(found, key=lambda m: m.creation_timestamp, default=None)

    def log_run(
        self,
        name: str,
        key: dict[str, str],
        model,
        model_types,
        params,
        metrics,
        sample,
        *,
        model_path: str,
        beside: tuple = (),
    ):
        """Log the run and the model once per key; a retry reuses what an earlier one made.

        `model` is the object loaded from `model_path`, the skops file stored as is, with the
        files in `beside` (its signature) stored next to it.
        """
        import mlflow

        with self.step("logging the run and the model", NOTHING_REGISTERED):
            experiment_id = self._experiment_id(name)
            run_id = self._run_id(experiment_id, key)
            failpoint("register.run_created")
            tags = self.client.get_run(run_id).data.tags
            if tags.get("model_uri"):
                return run_id, tags["model_uri"], tags["model_id"]
            signature = None
            if sample is not None and len(sample):
                signature = mlflow.models.infer_signature(sample, model.predict(sample))
            with mlflow.start_run(run_id=run_id):
                mlflow.log_params(params)
                mlflow.log_metrics(metrics)
                model_uri, model_id = self._log_model(
                    experiment_id, run_id, model, model_path, model_types, signature, beside
                )
                failpoint("register.model_logged")
                # Marks the run as complete for a retry (set only after the model is logged).
                mlflow.set_tags({"model_uri": model_uri, "model_id": model_id})
            return run_id, model_uri, model_id

    def stored_signature_tag(self, model_id: str) -> dict[str, str]:
        """The model_signature tag of the signature stored with a logged model.

        Read back from the store, not from the file just made: a retry reuses the model an
        earlier attempt logged, and an EC signature differs each time it is made.
        """
        import mlflow.artifacts

        from components._shared.registry.signing import SIGNATURE_FILE, signature_tag

        state = "nothing was registered; re-run the step"
        with (
            self.step(f"reading {SIGNATURE_FILE} back", state),
            tempfile.TemporaryDirectory(prefix="kfp-mlops-signature-") as tmp,
        ):
            location = self.client.get_logged_model(model_id).artifact_location
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location.rstrip('/')}/{SIGNATURE_FILE}",
                dst_path=tmp,
                tracking_uri=self.uri,
                registry_uri=self.uri,
            )
            return signature_tag(Path(local))

    def create_version(self, name, key, run_id, model_uri, model_id, tags, description) -> int:
        """Create the version with all its tags in one call, so it never exists without them."""
        from mlflow.exceptions import MlflowException

        # If only the answer was lost, the version exists with its tags and the lookup finds it.
        state = "no version, or a fully tagged one a retry reuses; re-run the step"
        with self.step("registering the model version", state):
            try:
                self.client.create_registered_model(
                    name, description="Registered by kfp-mlops register_model."
                )
            except MlflowException as exc:
                if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                    raise
            found = self.find_or_create(
                lambda: (self.find_version(name, key) or (None,))[0],
                lambda: int(
                    self.client.create_model_version(
                        name=name,
                        source=model_uri,
                        run_id=run_id,
                        tags=tags,
                        description=description,
                        model_id=model_id,
                    ).version
                ),
            )
        return int(found)

    def aliases(self, name: str, state: str) -> dict[str, int]:
        """The model's aliases right now (alias -> version)."""
        with self.step("reading the aliases", state):
            model = self.client.get_registered_model(name)
        return {alias: int(v) for alias, v in (model.aliases or {}).items()}

    def set_alias(self, name: str, alias: str, version: int, state: str) -> None:
        """Point an alias at a version."""
        with self.step(f"setting alias {alias!r}", state):
            self.client.set_registered_model_alias(name, alias, str(version))

    def delete_version(self, name: str, version: int, state: str) -> None:
        """Delete a model version (only ever a duplicate no alias points at)."""
        with self.step(f"deleting the duplicate v{version}", state):
            self.client.delete_model_version(name, str(version))

    def version_tags(self, name: str, version: int, state: str) -> dict[str, str]:
        """A version's tags right now."""
        with self.step(f"reading v{version}", state):
            return dict(self.client.get_model_version(name, str(version)).tags or {})

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
