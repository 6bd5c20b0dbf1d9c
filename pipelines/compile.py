"""Compile every registered pipeline into compiled/, or check that compiled/ is current."""

import difflib
import tempfile
from pathlib import Path

from kfp import compiler

from pipelines.descriptors import COMPILED_DIR, compiled_path, pipelines


def compile_pipeline(name: str, path: Path) -> None:
    """Compile one pipeline to a YAML spec."""
    compiler.Compiler().compile(pipelines()[name], package_path=str(path))


def stale(out=print) -> list[str]:
    """Names of pipelines whose committed spec differs from what the code compiles to."""
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in pipelines():
            fresh = Path(tmp) / f"{name}.yaml"
            compile_pipeline(name, fresh)
            committed = compiled_path(name)
            old = committed.read_text().splitlines() if committed.exists() else []
            new = fresh.read_text().splitlines()
            if old != new:
                found.append(name)
                diff = list(
                    difflib.unified_diff(old, new, str(committed), "fresh", lineterm="", n=1)
                )
                out("\n".join(diff[:40]) + ("\n..." if len(diff) > 40 else ""))
    return found


def compile_all(out=print) -> list[Path]:
    """Write compiled/<name>.yaml for every registered pipeline."""
    COMPILED_DIR.mkdir(exist_ok=True)
    written = []
    for name in pipelines():
        path = compiled_path(name)
        compile_pipeline(name, path)
        out(f"compiled {name} → {path.relative_to(COMPILED_DIR.parent)}")
        written.append(path)
    return written
