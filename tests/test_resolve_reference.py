"""resolve_reference: a given URI wins; else the champion's dataset_uri tag; every failure."""

import uuid

import pytest

from components._shared.errors import DataError, ServiceError
from components.resolve_reference import component
from components.resolve_reference.core import resolve_reference
from tests.conftest import free_port


def _register(name: str, tags: dict[str, str], champion: bool = True) -> int:
    """A model version registered directly (no training), with the given tags."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.create_registered_model(name)
    version = client.create_model_version(name, source="s3://mlflow/no-model", tags=tags)
    if champion:
        client.set_registered_model_alias(name, "champion", version.version)
    return int(version.version)


def test_resolve_reference_given_uri_is_used_without_asking_mlflow(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # would fail if MLflow were asked
    reference = resolve_reference("any-model", " s3://bucket/reference.parquet ")
    assert reference.uri == "s3://bucket/reference.parquet" and reference.source == "given"
    assert reference.model_version is None


def test_resolve_reference_champion_dataset_uri_tag(stack):
    name = f"ref-{uuid.uuid4().hex[:8]}"
    version = _register(name, {"dataset_uri": "s3://data/train.csv", "dataset_sha256": "ab12"})
    reference = resolve_reference(name, "")
    assert reference.uri == "s3://data/train.csv" and reference.source == "champion"
    assert reference.model_version == version and reference.dataset_sha256 == "ab12"
    assert reference.expected_sha256 == "ab12"


def test_resolve_reference_component_outputs_the_uri_and_the_pinned_hash(stack, tmp_path):
    name = f"ref-{uuid.uuid4().hex[:8]}"
    _register(name, {"dataset_uri": "s3://data/train.csv", "dataset_sha256": "ab12"})
    pinned = tmp_path / "outputs" / "expected_sha256"
    uri = component.resolve_reference.python_func(
        model_name=name, reference_uri="", expected_sha256=str(pinned)
    )
    assert uri == "s3://data/train.csv" and pinned.read_text() == "ab12"


def test_resolve_reference_given_uri_pins_nothing(tmp_path):
    pinned = tmp_path / "expected_sha256"
    uri = component.resolve_reference.python_func(
        model_name="any", reference_uri="s3://b/ref.csv", expected_sha256=str(pinned)
    )
    assert uri == "s3://b/ref.csv" and pinned.read_text() == ""


def test_resolve_reference_champion_without_dataset_hash_is_refused(stack):
    name = f"ref-{uuid.uuid4().hex[:8]}"
    _register(name, {"dataset_uri": "s3://data/train.csv"})
    with pytest.raises(
        DataError, match=r"version 1\) has no dataset_sha256 tag; give reference_uri"
    ):
        resolve_reference(name, "")


def test_resolve_reference_unknown_model_says_give_reference_uri(stack):
    with pytest.raises(DataError, match="give reference_uri or train a champion first"):
        resolve_reference(f"never-{uuid.uuid4().hex[:8]}", "")


def test_resolve_reference_model_without_champion_says_so(stack):
    name = f"ref-{uuid.uuid4().hex[:8]}"
    _register(name, {"dataset_uri": "s3://data/train.csv"}, champion=False)
    with pytest.raises(DataError, match="has no @champion version; give reference_uri"):
        resolve_reference(name, "")


def test_resolve_reference_champion_without_dataset_tag_says_so(stack):
    name = f"ref-{uuid.uuid4().hex[:8]}"
    _register(name, {"other": "x"})
    with pytest.raises(DataError, match=r"version 1\) has no dataset_uri tag; give reference_uri"):
        resolve_reference(name, "")


def test_resolve_reference_mlflow_unreachable_names_the_tracking_uri(monkeypatch):
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(ServiceError, match=f"MLflow at {uri} .*did not answer"):
        resolve_reference("any-model", "")


def test_resolve_reference_mlflow_unreachable_never_shows_uri_credentials(monkeypatch):
    uri = f"http://kfp:s3cr3t-pass@127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(ServiceError, match=r"MLflow at http://\*\*\*@127\.0\.0\.1:\d+ ") as info:
        resolve_reference("any-model", "")
    assert "s3cr3t-pass" not in str(info.value)


def test_resolve_reference_mlflow_not_configured_names_the_variable(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ServiceError, match="MLFLOW_TRACKING_URI"):
        resolve_reference("any-model", "")
