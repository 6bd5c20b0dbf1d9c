"""The run parameters a registered version records: every scalar parameter of the pipeline."""

from typing import Any

# KFP's channel types of str, int, float and bool parameters.
SCALAR_TYPES = ("String", "Integer", "Float", "Boolean")


def scalar_parameters(arguments: dict[str, Any]) -> dict[str, Any]:
    """Name → channel of each scalar pipeline parameter, in signature order.

    Called with `locals()` at the top of a pipeline body, so the list follows the signature
    and a new parameter is recorded without anyone remembering to add it. Lists and dicts
    are left out: kfp.local cannot substitute a list or dict parameter inside a dict
    parameter; they are recorded in their own places (hyperparameters in the model's
    metadata, the suite by its sha256, sensitive features in the fairness report).
    """
    return {
        name: channel
        for name, channel in arguments.items()
        if getattr(channel, "channel_type", None) in SCALAR_TYPES
    }
