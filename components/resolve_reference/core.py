"""The reference data URI: the one given, or the champion's dataset version (else its snapshot).

A champion registered with a `dataset_version` tag is compared against that stored version,
`dataset://NAME@sha256:HEX`: load_data re-reads it and checks the bytes still hash to it. An
older champion, registered before snapshots were stored, keeps the `dataset_uri` +
`dataset_sha256` pin.
"""

from dataclasses import dataclass

from components._shared.datasets.refs import SCHEME
from components._shared.errors import DataError
from components._shared.registry.champion import version_by_alias
from components._shared.registry.names import CHAMPION as ALIAS


@dataclass(frozen=True)
class Reference:
    """Where the reference data is, how it was found, and the hash its bytes must have."""

    uri: str
    source: str  # "given" or "champion"
    model_version: int | None = None
    dataset_sha256: str | None = None  # None for a given URI: nothing to pin it to

    @property
    def expected_sha256(self) -> str:
        """The hash load_data must find ("" = do not check), as a pipeline parameter."""
        return self.dataset_sha256 or ""


def _no_champion(model_name: str, why: str) -> DataError:
    return DataError(
        f"no reference data for {model_name!r}: {why}; give reference_uri or train a champion "
        "first (the training pipeline tags it with dataset_uri)"
    )


def resolve_reference(model_name: str, reference_uri: str) -> Reference:
    """The reference data: `reference_uri` when given, else the champion's training data.

    Args:
        model_name: Registered model whose `@champion` version's `dataset_version` tag is
            used, else its `dataset_uri` and `dataset_sha256` tags.
        reference_uri: Explicit reference data URI; empty means "ask the champion".

    Returns:
        The URI and where it came from; for the champion's data also its version and the
        sha256 its bytes had at training time (load_data checks it): for a dataset version,
        the version's own hash.

    Raises:
        DataError: No model, no champion alias, or a champion without a `dataset_uri` or
            `dataset_sha256` tag.
        ServiceError: MLflow is not configured or does not answer.
    """
    if reference_uri.strip():
        return Reference(uri=reference_uri.strip(), source="given")
    # Through the registry room: its one client policy and its error wording.
    version = version_by_alias(model_name, ALIAS)
    if version is None:
        raise _no_champion(model_name, f"it has no @{ALIAS} version")
    tags = version.tags or {}
    stored = tags.get("dataset_version", "")
    if stored.startswith(SCHEME) and "@sha256:" in stored:
        return Reference(
            uri=stored,
            source=ALIAS,
            model_version=int(version.version),
            dataset_sha256=stored.rpartition("@sha256:")[2],  # the version's own hash
        )
    for tag in ("dataset_uri", "dataset_sha256"):
        # Without the hash the snapshot could have changed unseen: refuse rather than guess.
        if not tags.get(tag):
            raise _no_champion(
                model_name, f"its @{ALIAS} (version {version.version}) has no {tag} tag"
            )
    return Reference(
        uri=tags["dataset_uri"],
        source=ALIAS,
        model_version=int(version.version),
        dataset_sha256=tags["dataset_sha256"],
    )
