"""What a finished local run left behind: task outputs, the failure read from its log.

Task outputs are read from kfp.local's executor_output.json files, so a summary reports
what the components wrote, not what the runner assumed (kfp.local's own task status can
be wrong, e.g. for containers).
"""

import json
import re
from pathlib import Path
from typing import Any

from components._shared.redact import redact

_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$")
_OWN_ERRORS = ("DataError", "ConfigError", "ServiceError", "KubeError", "KubeForbiddenError")


def task_outputs(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Task key → {"parameters": {...}, "artifacts": {name: {"uri", "metadata"}}}."""
    found: dict[str, dict[str, Any]] = {}
    for output_file in sorted((run_dir / "outputs").glob("*/*/executor_output.json")):
        raw = json.loads(output_file.read_text())
        artifacts = {
            name: {
                "uri": a["artifacts"][0]["uri"],
                "metadata": a["artifacts"][0].get("metadata", {}),
            }
            for name, a in raw.get("artifacts", {}).items()
            if a.get("artifacts")
        }
        found[output_file.parent.name] = {
            "parameters": raw.get("parameterValues", {}),
            "artifacts": artifacts,
        }
    return found


def failure(log: str, returncode: int) -> dict[str, Any] | None:
    """`error` and `failed_task` of a failed run (None when it did not fail)."""
    failed_task = re.search(r"Inner task failed: '?([\w-]+)", re.sub(r"\x1b\[[0-9;]*m", "", log))
    if returncode == 0 and failed_task is None:
        return None
    task = failed_task[1] if failed_task else None
    return {"error": _error_from_log(log) or f"task {task or '?'} failed", "failed_task": task}


def _error_from_log(log: str) -> str | None:
    """The most telling error line of a failed run: our own errors first, then any other."""
    lines = [m for m in (_ERROR_LINE.match(line) for line in log.splitlines()) if m]
    own = [m for m in lines if m[1] in _OWN_ERRORS]
    chosen = (own or [m for m in lines if m[1] != "RuntimeError"] or lines or [None])[-1]
    return f"{chosen[1]}: {chosen[2]}" if chosen else None


def redacted(value: Any, environ: dict[str, str] | None = None) -> Any:
    """A summary with every string passed through `redact` (keys, values, nested lists)."""
    if isinstance(value, str):
        return redact(value, environ)
    if isinstance(value, dict):
        return {redacted(k, environ): redacted(v, environ) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(v, environ) for v in value]
    return value
