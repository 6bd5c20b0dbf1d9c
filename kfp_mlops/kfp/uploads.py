"""Pipelines and versions on a KFP server: find the version that is exactly a local spec, upload."""

import json

from kfp_mlops.errors import UsageError
from kfp_mlops.kfp.client import Kfp
from kfp_mlops.kfp.specs import LocalSpec


def name_filter(name: str) -> str:
    """A list filter matching one display name exactly."""
    predicate = {"operation": "EQUALS", "key": "display_name", "string_value": name}
    return json.dumps({"predicates": [predicate]})


def find_pipeline(kfp: Kfp, name: str):
    """The server's pipeline with this display name, or None."""
    with kfp.call(f"looking up pipeline {name!r}"):
        found = kfp.client.list_pipelines(
            filter=name_filter(name), namespace=kfp.namespace, page_size=10
        ).pipelines
    return found[0] if found else None


def versions(kfp: Kfp, pipeline_id: str) -> list:
    """Every version of a pipeline (all pages)."""
    found, token = [], ""
    while True:
        with kfp.call("listing pipeline versions"):
            page = kfp.client.list_pipeline_versions(pipeline_id, page_token=token, page_size=100)
        found += page.pipeline_versions or []
        token = page.next_page_token
        if not token:
            return found


def matching_version(kfp: Kfp, pipeline_id: str, spec: LocalSpec):
    """The uploaded version that is exactly this local spec, or None."""
    for version in versions(kfp, pipeline_id):
        if spec.sha256 in (version.description or "") or version.display_name == spec.version_name:
            return version
    return None


def upload(kfp: Kfp, spec: LocalSpec) -> dict:
    """Create the pipeline, or a new version of it; nothing when this spec is already there."""
    pipeline = find_pipeline(kfp, spec.pipeline_name)
    if pipeline is None:
        with kfp.call(f"uploading pipeline {spec.pipeline_name!r}"):
            pipeline = kfp.client.upload_pipeline(
                spec.path, spec.pipeline_name, spec.description, namespace=kfp.namespace
            )
        version = matching_version(kfp, pipeline.pipeline_id, spec)
        created = "pipeline"
    else:
        version = matching_version(kfp, pipeline.pipeline_id, spec)
        created = None
        if version is None:
            with kfp.call(f"uploading version {spec.version_name!r}"):
                version = kfp.client.upload_pipeline_version(
                    spec.path,
                    spec.version_name,
                    pipeline_id=pipeline.pipeline_id,
                    description=spec.description,
                )
            created = "version"
    return {
        "created": created,
        "pipeline": spec.pipeline_name,
        "pipeline_id": pipeline.pipeline_id,
        "version": version.display_name if version else None,
        "version_id": version.pipeline_version_id if version else None,
        "sha256": spec.sha256,
        "url": f"{kfp.where.ui}/#/pipelines/details/{pipeline.pipeline_id}",
    }


def uploaded_version(kfp: Kfp, spec: LocalSpec):
    """(pipeline, version) on the server for this exact spec, or a UsageError saying to upload."""
    pipeline = find_pipeline(kfp, spec.pipeline_name)
    if pipeline is None:
        raise UsageError(
            f"pipeline {spec.pipeline_name!r} is not on {kfp.where.host}; "
            f"run `kfp-mlops upload {spec.name}` first"
        )
    version = matching_version(kfp, pipeline.pipeline_id, spec)
    if version is None:
        raise UsageError(
            f"compiled/{spec.name}.yaml (sha256 {spec.sha256[:12]}) is not uploaded to "
            f"{spec.pipeline_name!r} yet; run `kfp-mlops upload {spec.name}` first"
        )
    return pipeline, version


def experiment_id(kfp: Kfp, name: str) -> str:
    """The id of the experiment with this name, created if missing."""
    with kfp.call(f"getting or creating experiment {name!r}"):
        return kfp.client.create_experiment(name, namespace=kfp.namespace).experiment_id
