"""A local compiled spec and the names it gets on a KFP server.

A pipeline `NAME` from pipelines/descriptors.py is uploaded as `kfp-mlops-NAME`; each version
carries the sha256 of `compiled/NAME.yaml` in its description (and later versions are named
`<package version>-<first 12 hex of it>`; the server names a pipeline's first version after
the pipeline), so upload, run and schedule all find "the uploaded version that is exactly
this local spec" and never upload the same spec twice.
"""

import hashlib
from dataclasses import dataclass

from components._shared.image import package_version
from kfp_mlops.errors import UsageError
from pipelines.descriptors import PIPELINES, Pipeline

PREFIX = "kfp-mlops-"


@dataclass(frozen=True)
class LocalSpec:
    """A compiled pipeline spec in compiled/ and the names it gets on the server."""

    name: str
    path: str
    sha256: str
    pipeline: Pipeline

    @property
    def pipeline_name(self) -> str:
        """The pipeline's display name on the server."""
        return PREFIX + self.name

    @property
    def version_name(self) -> str:
        """The name a new version of this spec gets."""
        return f"{package_version()}-{self.sha256[:12]}"

    @property
    def description(self) -> str:
        """What a version's description says; its sha256 is what matching looks for."""
        return f"kfp-mlops {package_version()}: compiled/{self.name}.yaml sha256 {self.sha256}"


def local_spec(name: str) -> LocalSpec:
    """The compiled spec of a described pipeline, or a UsageError listing the known ones."""
    known = sorted(PIPELINES)
    if name not in known:
        raise UsageError(f"unknown pipeline {name!r}; expected one of {known}")
    described = PIPELINES[name]
    path = described.compiled_path
    if not path.is_file():
        raise UsageError(f"{path.name} is missing from compiled/; run `kfp-mlops compile`")
    return LocalSpec(name, str(path), hashlib.sha256(path.read_bytes()).hexdigest(), described)
