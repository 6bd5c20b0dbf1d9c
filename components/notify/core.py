"""The end-of-run message: final status, each gate's verdict, a link to the run; pure.

A run ends one of five ways. "succeeded, blessed": every model gate passed (a model was
registered, or deployed and promoted). "completed, rejected": the run reached its end but a
gate said no (an expected outcome, not a failure). "succeeded, no drift": monitoring found
nothing to retrain. "succeeded, nothing new to learn from": a retrain was needed but the
novelty check skipped it (same data, parameters and code as the champion); "succeeded,
retrain skipped" when it was skipped for another reason its line gives (no training set: too
few labelled rows). "failed": a task raised; the message names it when it is known and
quotes the error.
The drift, live-performance and novelty checks decide whether to retrain rather than judge a
model, so their "no" never makes a run "rejected".
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

SUCCEEDED = "SUCCEEDED"
BLESSED = "succeeded, blessed"
REJECTED = "completed, rejected"
NO_DRIFT = "succeeded, no drift"
NOTHING_NEW = "succeeded, nothing new to learn from"
RETRAIN_SKIPPED = "succeeded, retrain skipped"
SUCCEEDED_PLAIN = "succeeded"
FAILED = "failed"
FORMATS = ("slack", "json")
# Gates that decide whether to retrain, not whether a model is good enough (and the fleet
# report's record, which counts its models' outcomes: a fleet run blesses no model itself).
TRIGGER_GATES = ("drift", "live_performance", "novelty", "fleet")
NOVELTY = "novelty"
# KFP gives an exit task no error text of the task that failed (see failed.py).
_UNREPORTED = "KFP state {state}; the error itself is in the failed task's log"
_ICONS = {
    BLESSED: "✅",
    REJECTED: "⛔",
    NO_DRIFT: "✅",
    NOTHING_NEW: "✅",
    RETRAIN_SKIPPED: "✅",
    SUCCEEDED_PLAIN: "✅",
    FAILED: "❌",
}


@dataclass(frozen=True)
class Verdict:
    """One gate's verdict as the message shows it (a GateRecord's gate, passed and line)."""

    gate: str
    passed: bool
    line: str


@dataclass(frozen=True)
class Notification:
    """What the message says, before it is shaped for a receiver.

    Attributes:
        pipeline: The pipeline that ran.
        model: The model it was about.
        status: One of BLESSED, REJECTED, NO_DRIFT, NOTHING_NEW, RETRAIN_SKIPPED,
            SUCCEEDED_PLAIN, FAILED.
        gates: Each gate's verdict, in display order.
        run_id: The KFP run id.
        run_url: The run's page in the Kubeflow UI ("" when no UI address is configured).
        run_ref: The run link as text: the URL, or "local run <id>" / "run <id> (...)".
        failed_task: Display name of the task that failed ("" when not failed or unknown).
        error: The failure's message ("" when not failed).
    """

    pipeline: str
    model: str
    status: str
    gates: list[Verdict] = field(default_factory=list)
    run_id: str = ""
    run_url: str = ""
    run_ref: str = ""
    failed_task: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        """The run ran to its end (whatever the gates said)."""
        return self.status != FAILED

    @property
    def blessed(self) -> bool | None:
        """True blessed, False rejected, None when no model was judged (no drift, failed)."""
        return {BLESSED: True, REJECTED: False}.get(self.status)


def final_status(state: str, pipeline: str, gates: Sequence[Verdict]) -> str:
    """The run's final status from KFP's state and the gates' verdicts."""
    if state.upper() != SUCCEEDED:
        return FAILED
    judged = [g for g in gates if g.gate not in TRIGGER_GATES]
    if judged:
        return BLESSED if all(g.passed for g in judged) else REJECTED
    skipped = [g for g in gates if g.gate == NOVELTY and not g.passed]
    if skipped:  # a retrain was needed and skipped: its line says why
        return NOTHING_NEW if "nothing new to learn from" in skipped[0].line else RETRAIN_SKIPPED
    triggers = [g for g in gates if g.gate in TRIGGER_GATES]
    if pipeline == "monitoring" and triggers and all(g.passed for g in triggers):
        return NO_DRIFT
    return SUCCEEDED_PLAIN  # no verdict recorded: say only what KFP said


def run_link(ui_url: str, run_id: str, local: bool) -> tuple[str, str]:
    """(run_url, run_ref): the Kubeflow UI's run page; without a UI address, the run id.

    A local run's folder is not a link anyone else can open: it is "local run <id>".
    """
    run = run_id or "(id unknown)"
    if ui_url.strip() and run_id and not local:
        url = f"{ui_url.strip().rstrip('/')}/#/runs/details/{run_id}"
        return url, url
    return "", f"local run {run}" if local else f"run {run} (set KFP_MLOPS_UI_URL for a link)"


def build_notification(
    *,
    state: str,
    pipeline: str,
    model: str,
    run_id: str,
    gates: Sequence[Verdict],
    ui_url: str = "",
    local: bool = False,
    failed_task: str = "",
    error: str = "",
) -> Notification:
    """Everything the end-of-run message says (one entry point; shaping is separate)."""
    status = final_status(state, pipeline, gates)
    run_url, run_ref = run_link(ui_url, run_id, local)
    failed = status == FAILED
    return Notification(
        pipeline=pipeline,
        model=model,
        status=status,
        gates=list(gates),
        run_id=run_id,
        run_url=run_url,
        run_ref=run_ref,
        failed_task=failed_task if failed else "",
        error=(error or _UNREPORTED.format(state=state.upper() or "FAILED")) if failed else "",
    )


def headline(note: Notification) -> str:
    """The first line: icon, pipeline, model, status (and the failed task)."""
    text = f"{_ICONS[note.status]} {note.pipeline} ({note.model}): {note.status}"
    if note.status == FAILED:
        text += f" at {note.failed_task}" if note.failed_task else " (failed task not reported)"
    return text


def text_lines(note: Notification) -> list[str]:
    """The message as plain lines: headline, error, one line per gate, link."""
    lines = [headline(note)]
    if note.error:
        lines.append(f"error: {note.error}")
    for gate in note.gates:
        lines.append(f"{'✓' if gate.passed else '✗'} {gate.gate}: {gate.line}")
    if not note.gates:
        lines.append("no gate verdicts recorded")
    lines.append(f"run: {note.run_url}" if note.run_url else note.run_ref)
    return lines


def slack_payload(note: Notification) -> dict:
    """Slack incoming-webhook body: `text` (the fallback for notifications) and `blocks`.

    Slack shows `blocks` and uses `text` for notifications and clients without blocks
    (https://api.slack.com/messaging/webhooks, "Adding rich message layouts"). A section's
    mrkdwn text is limited to 3000 characters, so each block is cut below that.
    """
    lines = text_lines(note)
    body = "\n".join(_mrkdwn(line) for line in lines[1:])
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"*{_mrkdwn(lines[0])}*")}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body)}},
    ]
    if note.run_url:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _cut(f"<{note.run_url}|Open the run>")}],
            }
        )
    return {"text": _cut(lines[0]), "blocks": blocks}


def json_payload(note: Notification) -> dict:
    """Plain JSON body for any other receiver."""
    return {
        "status": note.status,
        "pipeline": note.pipeline,
        "model": note.model,
        "blessed": note.blessed,
        "failed_task": note.failed_task or None,
        "error": note.error or None,
        "gates": [{"gate": g.gate, "passed": g.passed, "line": g.line} for g in note.gates],
        "run_id": note.run_id,
        "run_url": note.run_url or None,
        "run": note.run_ref,
        "text": "\n".join(text_lines(note)),
    }


def payload(note: Notification, message_format: str) -> dict:
    """The body for a receiver in `message_format` ("slack" or "json")."""
    shaped = {"slack": slack_payload, "json": json_payload}
    if message_format not in shaped:
        raise ValueError(f"unknown message_format {message_format!r}; expected one of {FORMATS}")
    return shaped[message_format](note)


def _mrkdwn(text: str) -> str:
    # Slack's mrkdwn control characters must be escaped as entities (Slack: "Escaping text").
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int = 2900) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    # Cut between words: half a credential is no longer recognised by the redaction of the
    # final body (send.post_json), so a word is dropped whole rather than split.
    space = max(head.rfind(" "), head.rfind("\n"))
    return (head[:space] if space >= limit // 2 else head) + "…"
