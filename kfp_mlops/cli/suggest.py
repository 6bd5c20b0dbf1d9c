"""`kfp-mlops suggest-suite`: a starter GX 1.x suite from a reference table, as JSON."""

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from components._shared.errors import KfpMlopsError
from components._shared.redact import redact
from kfp_mlops.errors import EXIT_FAILED, exit_code_for


def _margin(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _categories(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(text)


def _write_new(path: Path, text: str, force: bool) -> None:
    """Write atomically: a temp file in the same folder, then a rename.

    Without `force` the temp file is hard-linked into place, which fails if the target
    appeared meanwhile, so an existing file is never replaced.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise
            except OSError:  # a filesystem without hard links: check, then rename
                if path.exists():
                    raise FileExistsError(path) from None
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _exists_message(path: Path) -> str:
    return f"error: {path} already exists; pass --force to overwrite it"


def _suggest_cmd(args: argparse.Namespace) -> int:
    from components._shared.io import read_table
    from components.validate_data.suggest import suggest_suite

    output = Path(args.output) if args.output else None
    if output is not None and output.exists() and not args.force:
        print(_exists_message(output), file=sys.stderr)  # before reading a possibly big table
        return EXIT_FAILED
    try:
        frame = read_table(args.data).frame
        name = args.name or Path(args.data).stem or "suggested"
        suite = suggest_suite(frame, args.target, name, args.margin, args.max_categories)
        suite["meta"]["dataset"] = args.data
        text = json.dumps(suite, indent=2, ensure_ascii=False) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            _write_new(output, text, args.force)
    except FileExistsError:
        print(_exists_message(output), file=sys.stderr)
        return EXIT_FAILED
    except (KfpMlopsError, OSError) as exc:
        print(f"error: {redact(exc)}", file=sys.stderr)  # a path may sit under a URI with keys
        return exit_code_for(exc)
    where = f" to {output}" if output else ""
    print(
        f"suggested {len(suite['expectations'])} expectations for {len(frame.columns)} columns "
        f"({len(frame)} rows) of {args.data}{where}; review it before use",
        file=sys.stderr,
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `suggest-suite DATA [--target COL] [--output FILE] [--force] ...`."""
    s = subparsers.add_parser(
        "suggest-suite",
        help="suggest a starter GX 1.x suite from a reference CSV/Parquet table",
        description=__doc__,
    )
    s.add_argument("data", metavar="DATA", help="local path or s3:// URI of a .csv or .parquet")
    s.add_argument("--target", metavar="COL", help="the label column (not null, value set)")
    s.add_argument("--output", metavar="FILE", help="write the suite here (default: stdout)")
    s.add_argument("--force", action="store_true", help="overwrite an existing --output file")
    s.add_argument("--name", help="suite name (default: the DATA file's stem)")
    s.add_argument(
        "--margin",
        type=_margin,
        default=0.1,
        help="relative slack for row counts, ranges and null shares (default 0.1)",
    )
    s.add_argument(
        "--max-categories",
        type=_categories,
        default=20,
        metavar="N",
        help="most distinct values for a column to get a value set (default 20)",
    )
    s.set_defaults(func=_suggest_cmd)
