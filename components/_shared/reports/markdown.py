"""Small human reports (Markdown for the Kubeflow UI) and the numbers beside them."""

import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

# Escaped with a backslash: code spans, emphasis, strikethrough, links/images, table cells.
# The backslash comes first so the ones added for the others are not doubled.
_BACKSLASHED = ("\\", "`", "*", "~", "[", "]", "|")
# Entities, not backslashes: the Kubeflow UI renders raw HTML inside Markdown.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# "_" emphasises only at a word's edge: escaping it there keeps `credit_amount` readable.
_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
# A block marker a name could open after our "- " (a heading, a nested list) in a list item:
# the mark to escape is the last group.
_BLOCK_START = re.compile(r"^(\s*)(#|[-+](?=[\s-]|$)|\d{1,9}(?=[.)](?:\s|$)))([.)]?)")


class Md(str):
    """Markdown we wrote (or escaped already): `markdown_table` passes it through as is."""

    __slots__ = ()


def md_text(value: object) -> Md:
    """Text from data (a column, group or class name, a value, a reason), safe inside a line.

    Every line break or control character becomes a space, so no name can start a line (a
    heading, a table row, a verdict); Markdown punctuation is backslash-escaped and `& < >`
    become entities, so a name shows as the characters it holds, never as markup or HTML.

    Args:
        value: Anything; `str()` of it is escaped.

    Returns:
        The escaped text, marked as Markdown so it is not escaped twice.
    """
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in str(value)
    )
    for ch in _BACKSLASHED:
        text = text.replace(ch, "\\" + ch)
    text = _EDGE_UNDERSCORE.sub(r"\\_", text)
    text = "".join(_ENTITIES.get(ch, ch) for ch in text)
    return Md(_BLOCK_START.sub(_escape_block_start, text))


def _escape_block_start(m: re.Match) -> str:
    # "1." escapes its dot, "#", "-" and "+" themselves.
    return f"{m[1]}{m[2]}\\{m[3]}" if m[3] else f"{m[1]}\\{m[2]}"


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


def _cell(value: object) -> str:
    return value if isinstance(value, Md) else md_text(fmt(value))


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Render a Markdown table; every cell is escaped (`md_text`) unless it is `Md` already."""
    lines = ["| " + " | ".join(map(_cell, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def verdict(passed: bool) -> str:
    """A one-word verdict a reader sees first."""
    return "PASSED" if passed else "REJECTED"


def write_text(path: str | Path, text: str) -> None:
    """Write a report file, creating parent folders (artifact paths may not exist yet)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
