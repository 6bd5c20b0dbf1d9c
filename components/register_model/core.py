"""Register a blessed model in MLflow with lineage, a model card and guarded alias moves."""

import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from components._shared.errors import ConfigError
from components._shared.failpoints import failpoint
from components._shared.registry.lineage import find_same_model
from components._shared.registry.signing import LINEAGE_FILE, SIGNATURE_FILE, sign_model
from components.register_model.card import render_card
from components.register_model.lineage import (
    Candidate,
    build_lineage,
    description,
    model_sha256,
    run_metrics,
    run_params,
    version_tags,
)
from components.register_model.promotion import (  # noqa: F401 (its public home)
    decide_promotion,
    move_aliases,
)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}$")


@dataclass(frozen=True)
class Registration:
    """What the step did in the registry, with the lineage record and the model card."""

    registered: bool
    name: str
    version: int | None
    aliases: list[str]
    run_id: str | None
    promoted: bool
    reason: str
    previous_champion_version: int | None
    lineage: dict
    model_card: str

    def metadata(self) -> dict:
        """The registered_model artifact's metadata."""
        facts = asdict(self)
        del facts["lineage"], facts["model_card"]
        return facts


def _finish(lineage: dict, **registration) -> Registration:
    record = {**lineage, "registration": registration}
    card = render_card(record, version_tags(lineage))
    return Registration(**registration, lineage=record, model_card=card)


def _create(registry, candidate: Candidate, model_name: str, key, sha, tags, text):
    """Log the run and the model (signed when a key is set), then create the version."""
    from components._shared.model_io import load_model

    with tempfile.TemporaryDirectory(prefix="kfp-mlops-signature-") as signed_dir:
        # Signed before anything is logged: the signature is stored with the model.
        signed = sign_model(candidate.model_path, tags, signed_dir)
        beside = tuple(Path(signed_dir, f) for f in (SIGNATURE_FILE, LINEAGE_FILE))
        run_id, model_uri, model_id = registry.log_run(
            model_name,
            key,
            load_model(candidate.model_path, sha256=sha),
            candidate.model.get("skops_trusted_types") or [],
            run_params(candidate),
            run_metrics(candidate, gates_of(candidate)),
            candidate.sample,
            model_path=candidate.model_path,
            beside=beside if signed else (),
        )
    if signed:
        tags = tags | registry.stored_signature_tag(model_id)
    return registry.create_version(model_name, key, run_id, model_uri, model_id, tags, text), run_id


def gates_of(candidate: Candidate) -> dict[str, bool]:
    """Each model gate's blessing, as the lineage and the run's metrics record them."""
    return {
        "validation": candidate.validation.get("success") is True,
        "evaluation": bool(candidate.evaluation_blessed),
        "fairness": bool(candidate.fairness_blessed),
    }


def register_model(candidate: Candidate, *, model_name: str, promote: bool) -> Registration:
    """Register the model as `challenger` (and maybe `champion`) when every gate blessed it.

    Idempotent: a version of the model with the same model file (model_sha256) and lineage
    (dataset_sha256, parameters, package_version, git_commit, image) is returned, not
    registered again ("already registered as vN (same model file and lineage)"); its aliases
    move as promotion would move them for a new version, and its run keeps its own record.

    Order of operations, so a failure at any step leaves nothing half-done: look for this
    attempt's version (kfp_run_id + model sha256), then for the same model file and lineage;
    else find-or-create the run, the logged model and the version by the attempt's key (the
    version carries all lineage tags from its creation; with KFP_MLOPS_MODEL_SIGNING_PEM set,
    model.sig over the file and those tags is stored beside the model file and its sha256 in
    the model_signature tag); then, holding the model's lease on S3, `challenger` and maybe
    `champion`, each move recorded in the audit trail before it is made; last the lineage
    JSON and model card on the run.

    Raises:
        ConfigError: The model name is not a valid registry name, or the signing key
            variable names no usable EC private key.
        DataError: The model file does not match the sha256 train_model recorded.
        ServiceError: MLflow or S3 is not configured or fails; names the endpoint and the
            step. LeaseError (a ServiceError) when another run holds the lock too long.
    """
    from components._shared.registry.client import Registry

    if not NAME_PATTERN.match(model_name or ""):
        raise ConfigError(
            f"model_name {model_name!r} is not a registry name; use letters, digits, '_', '.', '-'"
        )
    sha = model_sha256(candidate)
    gates = gates_of(candidate)
    lineage = build_lineage(candidate, gates, sha)
    result = {"name": model_name, "previous_champion_version": None}
    if not all(gates.values()):
        rejected = [g for g, ok in gates.items() if not ok]
        reason = f"not registered: the {', '.join(rejected)} gate(s) did not bless the model"
        return _finish(
            lineage,
            registered=False,
            version=None,
            aliases=[],
            run_id=None,
            promoted=False,
            reason=reason,
            **result,
        )
    registry = Registry()
    key = {"kfp_run_id": candidate.kfp_run_id or "unknown", "model_sha256": sha}
    tags, text = version_tags(lineage), description(lineage)
    own = registry.find_version(model_name, key)  # this attempt's, from a retry
    same = None if own else find_same_model(registry, model_name, tags)
    if own or same:
        version, run_id = own or same
    else:
        version, run_id = _create(registry, candidate, model_name, key, sha, tags, text)
    failpoint("register.version_created")
    state = (
        f"v{version} is registered with its tags; re-run the step to finish (it reuses v{version})"
    )
    twin = {}

    def settle(live: dict[str, int]) -> int:
        # Under the lease, so racing runs agree: the oldest version of this model file and
        # lineage is the one. A later twin this attempt made (another run registered the same
        # between our lookup and our version) is deleted before any alias can point at it;
        # one an alias already points at (a registry from before this check) is kept.
        first = find_same_model(registry, model_name, tags)
        if first is None or first[0] >= version or version in live.values():
            return version
        registry.delete_version(model_name, version, state)
        twin.update(deleted=version, run_id=first[1])
        return first[0]

    promoted, reason, current, version = move_aliases(
        registry,
        model_name,
        version,
        promote=promote,
        evaluation=candidate.evaluation,
        who=key["kfp_run_id"],
        state=state,
        settle=None if same else settle,
    )
    if twin:
        same, run_id = (version, twin["run_id"]), twin["run_id"]
        reason = (
            f"{reason}; v{twin['deleted']}, this run's duplicate registered meanwhile, was deleted"
        )
    if same:
        reason = f"already registered as v{version} (same model file and lineage); {reason}"
        print(f"register_model: {reason}")
    final = registry.aliases(model_name, state)
    registration = _finish(
        lineage,
        registered=True,
        version=version,
        run_id=run_id,
        promoted=promoted,
        aliases=sorted(a for a, v in final.items() if v == version),
        reason=reason,
        **(result | {"previous_champion_version": current if current != version else None}),
    )
    if not same:  # another run's version keeps its own lineage record and card
        registry.log_record(run_id, registration.lineage, registration.model_card, state)
    return registration
