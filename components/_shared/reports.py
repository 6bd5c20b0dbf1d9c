"""Small human reports (Markdown for the Kubeflow UI) and the numbers beside them."""

from collections.abc import Iterable, Sequence
from pathlib import Path


def fmt(value: object, digits: int = 4) -> str:
    """Format a cell: floats rounded, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def plain(value: object) -> object:
    """A whole float back to an int (KFP metadata turns ints into floats); else unchanged."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Render a Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(passed: bool) -> str:
    """A one-word verdict a reader sees first."""
    return "PASSED" if passed else "REJECTED"


def write_text(path: str | Path, text: str) -> None:
    """Write a report file, creating parent folders (artifact paths may not exist yet)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
