"""A live comparison's verdict kept on the challenger version (LIVE_COMPARISON_TAG, JSON).

Written by compare_live; whoever approves or promotes the version reads it there.
"""

import json

from components._shared.registry.client import Registry
from components._shared.registry.names import LIVE_COMPARISON_TAG

STATE = "the comparison's verdict is in its report; re-run compare_live to tag the version"


def tag_live_comparison(model_name: str, version: int, verdict: dict) -> None:
    """Set the version's LIVE_COMPARISON_TAG to `verdict` as JSON (replacing an earlier one).

    Raises:
        ServiceError: MLflow is not configured, does not answer, or has no such version.
    """
    registry = Registry()
    text = json.dumps(verdict, sort_keys=True, default=str)
    registry.set_tags(model_name, version, {LIVE_COMPARISON_TAG: text}, STATE)


def read_live_comparison(model_name: str, version: int) -> dict | None:
    """The version's live-comparison verdict, or None when it has none (or not JSON)."""
    text = Registry().version_tags(model_name, version, STATE).get(LIVE_COMPARISON_TAG)
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
