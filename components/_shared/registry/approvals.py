"""Consent on a registered version: approve or reject it, on the record, under the model's lease.

A decision is written like an alias move (aliases.alias_moves): under the model's S3 lease,
the audit trail's record first (audit.Trail.decide: action, version, who, when, why and the
evidence), then the version's `kfp_mlops.approval` tag, which is what every check reads. A
crash between the two leaves a record without its tag: no decision (history leaves it out,
the next lease holder marks it abandoned). A check made under the lease (promote, and the
`production` move) therefore sees a decision whole or not at all.

Rules: a rejection stands (a rejected version is never approved again: register a new one);
rejecting an approved version withdraws the consent before it is used; deciding what is
already decided records nothing. The evidence is the version's live comparison
(`kfp_mlops.live_comparison`, written by compare_live) as it was when the decision was made,
or none: a decision is recorded with or without it.
"""

import json
from dataclasses import asdict, dataclass, field

from components._shared.errors import ConfigError, KfpMlopsError
from components._shared.failpoints import failpoint
from components._shared.registry.aliases import alias_moves
from components._shared.registry.client import Registry
from components._shared.registry.names import (
    APPROVAL_TAG,
    CHAMPION,
    LIVE_COMPARISON_TAG,
    PRODUCTION,
)

APPROVE, REJECT = "approve", "reject"
APPROVED, REJECTED = "approved", "rejected"
DECIDED = {APPROVE: APPROVED, REJECT: REJECTED}
GUARDED = (PRODUCTION, CHAMPION)  # aliases a version reaches only with an approval
UNCHANGED = "nothing was changed"
UNKNOWN_WHO = ("", "unknown")
EVIDENCE_KEYS = (
    "passed", "cannot_judge", "cannot_judge_reason", "champion_version", "requests",
    "labelled", "agreement", "metric",
    "champion_value", "challenger_value", "delta_low", "delta_high", "run", "at",
)  # fmt: skip


class ApprovalError(KfpMlopsError):
    """A decision or a promotion refused: no such version, rejected, or not approved."""


@dataclass(frozen=True)
class Approval:
    """The decision on a version, as its approval tag holds it."""

    decision: str  # APPROVED or REJECTED
    by: str
    at: str  # the time of its audit record (UTC ISO)
    reason: str
    evidence: dict | None = None

    def value(self) -> str:
        """The tag's JSON value."""
        return json.dumps(asdict(self), sort_keys=True)

    def describe(self) -> str:
        """`approved by alice at <time> (<reason>)`."""
        return f"{self.decision} by {self.by} at {self.at} ({self.reason})"


@dataclass(frozen=True)
class Decision:
    """What `decide` did: the decision in force, and whether this call recorded it."""

    model: str
    version: int
    action: str
    approval: Approval
    recorded: bool  # False: it was already so, nothing written
    withdrawn: Approval | None = None  # the approval a rejection withdrew
    aliases: list[str] = field(default_factory=list)  # aliases on the version now


def parse_approval(tags: dict[str, str]) -> Approval | None:
    """The version's decision (None when there is none or the tag is not ours to read)."""
    try:
        facts = json.loads(tags.get(APPROVAL_TAG) or "null")
        if not isinstance(facts, dict) or facts.get("decision") not in (APPROVED, REJECTED):
            return None
        evidence = facts.get("evidence")
        return Approval(
            str(facts["decision"]), str(facts["by"]), str(facts["at"]), str(facts["reason"]),
            evidence if isinstance(evidence, dict) else None,
        )  # fmt: skip
    except (ValueError, KeyError, TypeError):
        return None


def evidence_of(tags: dict[str, str]) -> dict | None:
    """The version's live comparison (its known fields), or None when there is none."""
    try:
        facts = json.loads(tags.get(LIVE_COMPARISON_TAG) or "null")
    except ValueError:
        return None
    if not isinstance(facts, dict):
        return None
    return {key: facts[key] for key in EVIDENCE_KEYS if key in facts}


def approve_command(model: str, version: int) -> str:
    """The command that approves a version, for messages."""
    return f"kfp-mlops approve {model} {version} --reason TEXT"


def refusal(model: str, version: int, approval: Approval | None) -> str | None:
    """Why `version` may not go to a guarded alias; None when it is approved. Pure."""
    if approval is None:
        return (
            f"model {model!r} v{version} has not been approved; a person approves it with "
            f"`{approve_command(model, version)}` (after `kfp-mlops history {model}` and the "
            "live comparison)"
        )
    if approval.decision == REJECTED:
        return (
            f"model {model!r} v{version} was {approval.describe()}; a rejected version is "
            "never promoted: register a new version"
        )
    return None


def check_approved(
    model: str, version: int, state: str, registry: Registry | None = None
) -> Approval:
    """The version's approval; raises ApprovalError naming `kfp-mlops approve` without one."""
    registry = registry or Registry()
    approval = parse_approval(registry.version_tags(model, version, state))
    why = refusal(model, version, approval)
    if why is not None:
        raise ApprovalError(f"{why}; {state}")
    return approval


def check_promotable(
    model: str, version: int, alias: str, state: str, registry: Registry | None = None
) -> Approval | None:
    """The version's decision, checked for `alias`; ApprovalError names the way out.

    A guarded alias (production, champion) needs an approval; a rejected version goes to no
    alias.
    """
    if alias in GUARDED:
        return check_approved(model, version, state, registry)
    registry = registry or Registry()
    approval = parse_approval(registry.version_tags(model, version, state))
    if approval is not None and approval.decision == REJECTED:
        raise ApprovalError(f"{refusal(model, version, approval)}; {state}")
    return approval


def check_version(registry: Registry, model: str, version: int, state: str) -> dict[str, str]:
    """The version's tags; ApprovalError when the model or the version does not exist."""
    from mlflow.exceptions import MlflowException

    found = {}
    for what, read in (
        ("model", lambda: registry.client.get_registered_model(model)),
        ("version", lambda: registry.client.get_model_version(model, str(version))),
    ):
        with registry.step(f"reading model {model!r} v{version}", state):
            try:
                found[what] = read()
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
        if what not in found:
            break
    if "model" not in found:
        raise ApprovalError(f"no registered model {model!r} in MLflow; check the name; {state}")
    if "version" not in found:
        raise ApprovalError(
            f"model {model!r} has no version {version}; `kfp-mlops history {model}` lists the "
            f"versions its aliases moved through; {state}"
        )
    return dict(found["version"].tags or {})


def decide(
    model: str, version: int, action: str, who: str, why: str, *, registry: Registry | None = None
) -> Decision:
    """Approve or reject `version`, recorded in the audit trail before the tag, under the lease.

    Raises:
        ConfigError: No reason, an unknown action, or nobody to record as the decider.
        ApprovalError: No such model or version; approving a rejected version. Nothing changed.
        LeaseError: Another holder kept the model's lease past the wait.
        ServiceError: MLflow or S3 failed; a record without its tag is no decision.
    """
    if action not in DECIDED:
        raise ConfigError(f"unknown decision {action!r}; expected {APPROVE!r} or {REJECT!r}")
    if not why.strip():
        raise ConfigError(f"a decision needs a reason: --reason TEXT; {UNCHANGED}")
    if who in UNKNOWN_WHO:
        raise ConfigError(
            "nobody to record as the decider: set KFP_MLOPS_USER (or, in a pod, "
            f"KFP_MLOPS_SERVICE_ACCOUNT); {UNCHANGED}"
        )
    registry = registry or Registry()
    check_version(registry, model, version, UNCHANGED)
    with alias_moves(model, who, UNCHANGED, registry=registry, rerun=False) as aliases:
        tags = registry.version_tags(model, version, UNCHANGED)
        current = parse_approval(tags)
        on_it = sorted(a for a, v in aliases.live.items() if v == version)
        if current is not None and current.decision == DECIDED[action]:
            return Decision(model, version, action, current, False, None, on_it)
        if action == APPROVE and current is not None:  # rejected: it stands
            raise ApprovalError(
                f"model {model!r} v{version} was {current.describe()}; a rejection stands: "
                f"register a new version; {UNCHANGED}"
            )
        evidence = evidence_of(tags)
        aliases.lease.ensure()
        record = aliases.trail.decide(action, version, who, why, evidence)
        failpoint("approval.record_written")
        approval = Approval(DECIDED[action], who, record.time, record.why, evidence)
        registry.set_tags(model, version, {APPROVAL_TAG: approval.value()}, UNCHANGED)
    return Decision(model, version, action, approval, True, current, on_it)
