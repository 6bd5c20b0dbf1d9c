"""Every pipeline, registered in one place: compile and the CLI read this."""

from collections.abc import Callable
from pathlib import Path

COMPILED_DIR = Path(__file__).resolve().parent.parent / "compiled"


def pipelines() -> dict[str, Callable]:
    """Pipeline name → pipeline function (imported lazily: kfp and the components are heavy)."""
    from pipelines.monitoring import monitoring
    from pipelines.training import training

    return {"training": training, "monitoring": monitoring}


def compiled_path(name: str) -> Path:
    """Where the compiled spec of a pipeline lives."""
    return COMPILED_DIR / f"{name}.yaml"
