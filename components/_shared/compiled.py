"""Where the compiled pipeline specs live: compiled/<pipeline>.yaml, beside the packages.

Here, a layer below the pipelines that are compiled into it, so that a component (notify,
reading which task failed in a local run) finds a spec without importing pipelines/.
"""

from pathlib import Path

COMPILED_DIR = Path(__file__).resolve().parents[2] / "compiled"


def compiled_spec(pipeline: str) -> Path:
    """The compiled spec of a pipeline by name (it may not exist, e.g. beside an image)."""
    return COMPILED_DIR / f"{pipeline}.yaml"
