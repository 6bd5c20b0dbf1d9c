"""`make bench` drift rows: our detect_drift against Evidently on the same generated data.

Each tool runs in its own interpreter (ours in .venv, Evidently in .venv-evidently, see
`make evidently`) and reports its wall time (imports, reading both Parquet files, the tests)
and peak RSS. Agreement = share of columns where both tools give the same verdict.
Usage: python -m benchmarks.drift [--rows 10000 1000000] [--large]  (--large adds 1e7 rows;
Evidently needs more than 16 GiB there).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.drift_data import SHIFTED, write_pair

REPO = Path(__file__).resolve().parent.parent
EVIDENTLY_PYTHON = REPO / ".venv-evidently" / "bin" / "python"
EVIDENTLY_RUNNER = REPO / "benchmarks" / "evidently" / "run_evidently.py"
DEFAULT_ROWS = (10_000, 1_000_000)
LARGE_ROWS = 10_000_000


def run_ours(reference_path: str, current_path: str, out_path: str) -> None:
    """Our side, run as `python -m benchmarks.drift --ours REF CUR OUT` (same measures)."""
    import resource

    start = time.perf_counter()
    from components.detect_drift.core import TESTED, detect_drift
    from components.detect_drift.reader import open_source

    result = detect_drift(open_source(reference_path), open_source(current_path))
    columns = {
        c.column: {
            "method": c.method,
            "score": c.score,
            "drifted": c.drifted,
            "error_bound": c.error_bound,
        }
        for c in result.columns
        if c.status == TESTED
    }
    out = {
        "tool": "ours",
        "mode": result.mode,
        "columns": columns,
        "wall_s": time.perf_counter() - start,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    Path(out_path).write_text(json.dumps(out, indent=1))


def run_tool(tool: str, reference: Path, current: Path, out: Path) -> dict:
    """Run one tool in its own interpreter; its JSON result."""
    if tool == "ours":
        cmd = [sys.executable, "-m", "benchmarks.drift", "--ours", str(reference), str(current)]
    else:
        if not EVIDENTLY_PYTHON.exists():
            sys.exit(f"{EVIDENTLY_PYTHON} is missing: run `make evidently` first")
        cmd = [str(EVIDENTLY_PYTHON), str(EVIDENTLY_RUNNER), str(reference), str(current)]
    proc = subprocess.run([*cmd, str(out)], cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{tool} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def agreement(a: dict, b: dict) -> tuple[float, list[str]]:
    """Share of the columns of either result where both give the same verdict; disagreements."""
    names = sorted(set(a) | set(b))
    differ = [n for n in names if n not in a or n not in b or a[n]["drifted"] != b[n]["drifted"]]
    return (len(names) - len(differ)) / len(names), differ


def main() -> None:
    """Generate each size, run both tools, print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--large", action="store_true", help="also 1e7 rows (> 16 GiB)")
    parser.add_argument("--ours", nargs=3, metavar=("REF", "CUR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours:
        run_ours(*args.ours)
        return
    sizes = [*args.rows, *([LARGE_ROWS] if args.large else [])]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"drift: {os.cpu_count()} cores, load average at start {load}; 20 columns, "
        f"{len(SHIFTED)} shifted; rows = each of reference and current"
    )
    header = f"| {'rows':>10} | {'tool':<9} | {'wall s':>7} | {'peak RSS MiB':>12} | agreement |"
    lines = [header, "|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|"]
    disagreements = []
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        for rows in sizes:
            folder = Path(tmp) / str(rows)
            reference, current = write_pair(folder, rows)
            results = {
                t: run_tool(t, reference, current, folder / f"{t}.json")
                for t in ("ours", "evidently")
            }
            share, differ = agreement(results["ours"]["columns"], results["evidently"]["columns"])
            disagreements += [f"{rows} rows: {n}" for n in differ]
            for tool, result in results.items():
                lines.append(
                    f"| {rows:>10,} | {tool:<9} | {result['wall_s']:>7.1f} | "
                    f"{result['peak_rss_mib']:>12,.0f} | {share:>8.0%} |"
                )
            for path in (reference, current):
                path.unlink()
    print("\n".join(lines))
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if disagreements:
        print("verdicts differ on: " + ", ".join(disagreements))


if __name__ == "__main__":
    main()
