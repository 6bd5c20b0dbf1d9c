"""A registry action announced in the notify room: approve, reject, promote, rollback.

A CLI action is no pipeline run, so this is a small message of its own: the action, the
model and version, who and why, in one line (`text`, which Slack's incoming webhooks show)
and as fields for any other receiver. Sent through notify's one way out (`post_json`:
redacted, retried, never redirected) to KFP_MLOPS_WEBHOOK_URL when it is set. The action is
recorded before it is announced; a failed send is a warning and never undoes it.
"""

import os

from components.notify.announce import WEBHOOK_ENV
from components.notify.send import post_json, warn

ICONS = {"approve": "✅", "reject": "⛔", "promote": "⏫", "rollback": "⏪"}


def notice(action: str, model: str, version: int, who: str, why: str, **facts) -> dict:
    """The message body. Pure."""
    line = f"{ICONS.get(action, '•')} {action} {model} v{version} by {who}: {why}"
    detail = facts.get("detail")
    return {
        "text": f"{line} ({detail})" if detail else line,
        "action": action,
        "model": model,
        "version": version,
        "who": who,
        "why": why,
        **{k: v for k, v in facts.items() if k != "detail"},
    }


def announce(action: str, model: str, version: int, who: str, why: str, **facts) -> bool | None:
    """Post the notice when a webhook is configured: True sent, False not (warned), None none."""
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        return None
    try:
        result = post_json(url, notice(action, model, version, who, why, **facts))
    except Exception as exc:  # post_json never raises; this guards the recorded action anyway
        warn(f"{action} of {model} v{version} recorded; notification not sent: {exc}")
        return False
    if not result.sent:
        warn(f"{action} of {model} v{version} recorded; notification {result.detail}")
    return result.sent
