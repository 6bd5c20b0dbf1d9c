"""`kfp-mlops approve NAME VERSION --reason TEXT [--reject]`: consent on a version, on the record.

The decision goes through the registry's approvals (components/_shared/registry/approvals.py):
under the model's lease, its audit record first, then the version's approval tag. What this
module adds is for the person at the terminal: the words, the evidence the decision was given
(the version's live comparison, or that there is none: a decision is not refused for lack of
it) and the notice in the notify room.
"""

from components._shared.registry.approvals import APPROVE, REJECT, Decision, decide
from kfp_mlops.model_registry.identity import who
from kfp_mlops.model_registry.notices import announce


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def describe_evidence(version: int, evidence: dict | None) -> str:
    """One line on the live comparison a decision was given. Pure."""
    if not evidence:
        return f"no live comparison on record for v{version}"
    verdict = {True: "passed", False: "failed"}.get(evidence.get("passed"), "no verdict")
    if evidence.get("cannot_judge") is True:  # tags from before the field: passed says it
        verdict = f"cannot judge: {evidence.get('cannot_judge_reason') or 'no reason recorded'}"
    parts = [f"live comparison on record: {verdict}"]
    if "agreement" in evidence:
        parts.append(f"agreement {_number(evidence['agreement'])}")
    if "requests" in evidence:
        labelled = evidence.get("labelled")
        parts.append(
            f"{evidence['requests']} requests"
            + (f" ({labelled} labelled)" if labelled is not None else "")
        )
    if "champion_value" in evidence and "challenger_value" in evidence:
        metric = evidence.get("metric", "metric")
        champion = evidence.get("champion_version")
        parts.append(
            f"{metric} {_number(evidence['challenger_value'])} vs champion"
            + (f" v{champion}" if champion is not None else "")
            + f" {_number(evidence['champion_value'])}"
        )
    if "delta_low" in evidence and "delta_high" in evidence:
        parts.append(
            f"difference in [{_number(evidence['delta_low'])}, {_number(evidence['delta_high'])}]"
        )
    if evidence.get("run"):
        parts.append(f"run {evidence['run']}")
    return ", ".join(parts)


def describe(decision: Decision) -> list[str]:
    """What the CLI prints about a decision. Pure."""
    name, version, approval = decision.model, decision.version, decision.approval
    if not decision.recorded:
        return [
            f"{name} v{version} already {approval.describe()}; nothing recorded",
            describe_evidence(version, approval.evidence),
        ]
    lines = [f"{name} v{version} {approval.describe()}"]
    if decision.withdrawn is not None:
        lines.append(
            f"this withdraws the approval ({decision.withdrawn.describe()}): v{version} can no "
            "longer be promoted to production or champion"
        )
    if decision.action == REJECT and decision.aliases:
        held = ", ".join(decision.aliases)
        lines.append(
            f"v{version} is still {held}: a rejection moves no alias; move it with "
            f"`kfp-mlops promote {name} VERSION --alias ALIAS --reason TEXT` or "
            f"`kfp-mlops rollback {name} --reason TEXT`"
        )
    lines.append(describe_evidence(version, approval.evidence))
    return lines


def approve(
    model: str, version: int, reason: str, *, reject: bool = False, user: str | None = None
) -> Decision:
    """Record the decision (see approvals.decide for what is refused), then announce it."""
    action = REJECT if reject else APPROVE
    decision = decide(model, version, action, user or who(), reason)
    if decision.recorded:
        approval = decision.approval
        announce(
            action, model, version, approval.by, approval.reason,
            at=approval.at, detail=describe_evidence(version, approval.evidence),
            evidence=approval.evidence,
        )  # fmt: skip
    return decision
