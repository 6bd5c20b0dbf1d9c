"""`make bench` drift rows: our detect_drift against Evidently on the same generated data.

Each tool runs in its own interpreter (ours in .venv, Evidently in .venv-evidently, see
`make evidently`). Wall time is the whole process's, measured from here: interpreter start,
imports, reading both Parquet files, the tests, writing the verdicts, exit. CPU time is the
process's user + system time (ours counts both sides at once on two CPUs; Evidently's pandas
path runs on one), peak RSS its own `ru_maxrss`. Agreement = share of columns where both
tools give the same verdict.
Default: 1e4, 1e6 and 1e7 rows x 20 columns for both tools, then 1e8 rows x 10 columns for
ours alone. Evidently runs under an address-space limit (EVIDENTLY_MAX_GIB) so that running
out of memory ends its run with an error in the table instead of starving the machine.
Usage: python -m benchmarks.drift [--rows 10000 1000000 ...] [--huge-rows N | --no-huge]
       [--evidently-max-gib N]   (0: no limit; 1e7 rows needs ~21 GB, run it alone)
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# benchmarks.drift_data (numpy, pyarrow) is imported where data is written: the `--ours`
# child imports nothing but what the drift path itself imports.

REPO = Path(__file__).resolve().parent.parent
EVIDENTLY_PYTHON = REPO / ".venv-evidently" / "bin" / "python"
EVIDENTLY_RUNNER = REPO / "benchmarks" / "evidently" / "run_evidently.py"
DEFAULT_ROWS = (10_000, 1_000_000, 10_000_000)
HUGE_ROWS = 100_000_000
EVIDENTLY_MAX_GIB = 18


def run_ours(reference_path: str, current_path: str, out_path: str, mode: str = "auto") -> None:
    """Our side, run as `python -m benchmarks.drift --ours REF CUR OUT` (same measures)."""
    start = time.perf_counter()
    from components._shared.io.sources import open_source
    from components.detect_drift.core import detect_drift
    from components.detect_drift.results import TESTED

    result = detect_drift(open_source(reference_path), open_source(current_path), mode=mode)
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


def _limit_memory(gib: int = EVIDENTLY_MAX_GIB) -> None:
    limit = gib << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_tool(
    tool: str, reference: Path, current: Path, out: Path, max_gib: int = EVIDENTLY_MAX_GIB
) -> dict:
    """Run one tool in its own interpreter; its JSON result, or {"error": ...}."""
    limit = None
    if tool.startswith("ours"):
        cmd = [sys.executable, "-m", "benchmarks.drift", "--ours", str(reference), str(current)]
        if tool == "ours-exact":
            cmd[3:3] = ["--ours-mode", "exact"]
    else:
        if not EVIDENTLY_PYTHON.exists():
            sys.exit(f"{EVIDENTLY_PYTHON} is missing: run `make evidently` first")
        cmd = [str(EVIDENTLY_PYTHON), str(EVIDENTLY_RUNNER), str(reference), str(current)]
        limit = (lambda: _limit_memory(max_gib)) if max_gib else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        [*cmd, str(out)], cwd=REPO, capture_output=True, text=True, preexec_fn=limit
    )
    process_s = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # this child alone: one at a time
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {last[:80]}", "process_s": process_s}
    return {**json.loads(out.read_text()), "process_s": process_s, "cpu_s": cpu_s}


def generated(folder: Path, rows: int, columns=()) -> tuple[Path, Path]:
    """drift_data.write_pair in its own interpreter.

    Not in this process: Linux carries a process's peak RSS (ru_maxrss) across fork and exec,
    so every tool started after this process had grown to write the data would report at
    least that size.
    """
    from benchmarks.drift_data import ALL_COLUMNS

    columns = columns or ALL_COLUMNS
    code = (
        "import sys; from pathlib import Path; from benchmarks.drift_data import write_pair; "
        "write_pair(Path(sys.argv[1]), int(sys.argv[2]), columns=tuple(sys.argv[3:]))"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(folder), str(rows), *columns], cwd=REPO, check=True
    )
    return folder / "reference.parquet", folder / "current.parquet"


def agreement(a: dict, b: dict) -> tuple[float, list[str]]:
    """Share of the columns of either result where both give the same verdict; disagreements."""
    names = sorted(set(a) | set(b))
    differ = [n for n in names if n not in a or n not in b or a[n]["drifted"] != b[n]["drifted"]]
    return (len(names) - len(differ)) / len(names), differ


def _row(rows: int, columns: int, tool: str, result: dict, share: str) -> str:
    if "error" in result:
        return (
            f"| {rows:>11,} | {columns:>4} | {tool:<10} | {result['process_s']:>7.1f} | "
            f"{'—':>6} | {'—':>12} | {'—':>9} | {share:>9} | failed: {result['error']}"
        )
    mode = result.get("mode", "")
    bounds = [c.get("error_bound") for c in result["columns"].values()]
    worst = max((b for b in bounds if b), default=0.0)
    note = f"{mode}, max bound {worst:.1g}" if mode == "streaming" else mode
    return (
        f"| {rows:>11,} | {columns:>4} | {tool:<10} | {result['process_s']:>7.1f} | "
        f"{result['cpu_s']:>6.1f} | {result['peak_rss_mib']:>12,.0f} | "
        f"{len(result['columns']):>9} | {share:>9} | {note}"
    )


def ratio(results: dict) -> str | None:
    """How many times faster ours ran than Evidently (whole process), if both finished."""
    ours, theirs = results.get("ours", {}), results.get("evidently", {})
    if "error" in ours or "error" in theirs or not ours or not theirs:
        return None
    return f"{theirs['process_s'] / ours['process_s']:.0f}x"


def main() -> None:
    """Generate each size, run both tools, print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--huge-rows", type=int, default=HUGE_ROWS, help="ours alone, 10 columns")
    parser.add_argument("--no-huge", action="store_true", help="skip the ours-alone run")
    parser.add_argument(
        "--evidently-max-gib",
        type=int,
        default=EVIDENTLY_MAX_GIB,
        help="Evidently's address-space limit in GiB (0: none)",
    )
    parser.add_argument("--ours", nargs=3, metavar=("REF", "CUR", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--ours-mode", default="auto", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours:
        run_ours(*args.ours, mode=args.ours_mode)
        return
    from benchmarks.drift_data import SHIFTED, TEN_COLUMNS

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"drift: {os.cpu_count()} cores, load average at start {load}; "
        f"{len(SHIFTED)} of 20 columns shifted; rows = each of reference and current",
        flush=True,
    )
    header = (
        f"| {'rows':>11} | {'cols':>4} | {'tool':<10} | {'wall s':>7} | {'cpu s':>6} | "
        f"{'peak RSS MiB':>12} | {'verdicts':>9} | {'agreement':>9} | notes"
    )
    lines = [header, "|" + "|".join("-" * len(c) for c in header.split("|")[1:]) + "|"]
    disagreements, notes = [], []
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        for rows in args.rows:
            folder = Path(tmp) / str(rows)
            reference, current = generated(folder, rows)
            results = {}
            for tool in ("ours", "evidently"):
                print(f"  {rows:,} rows: {tool} ...", flush=True)
                results[tool] = run_tool(
                    tool, reference, current, folder / f"{tool}.json", args.evidently_max_gib
                )
            share = "—"
            if not any("error" in r for r in results.values()):
                fraction, differ = agreement(
                    results["ours"]["columns"], results["evidently"]["columns"]
                )
                share = f"{fraction:.0%}"
                disagreements += [f"{rows} rows: {n}" for n in differ]
            elif results["ours"].get("mode") == "streaming":
                # Evidently could not finish: compare the stream with our exact mode, whose
                # scores match Evidently's to 1e-9 wherever Evidently runs.
                print(f"  {rows:,} rows: ours-exact ...", flush=True)
                exact = run_tool("ours-exact", reference, current, folder / "exact.json")
                results["ours-exact"] = exact
                if "error" not in exact:
                    fraction, differ = agreement(results["ours"]["columns"], exact["columns"])
                    notes.append(
                        f"{rows:,} rows: streaming agrees with exact mode on {fraction:.0%}"
                    )
                    disagreements += [f"{rows} rows (vs exact): {n}" for n in differ]
            lines += [_row(rows, 20, tool, result, share) for tool, result in results.items()]
            if ratio(results):
                notes.append(f"{rows:,} rows: ours {ratio(results)} faster than Evidently")
            for path in (reference, current):
                path.unlink()
        if not args.no_huge:
            folder = Path(tmp) / "huge"
            print(f"  {args.huge_rows:,} rows x 10 columns: writing ...", flush=True)
            reference, current = generated(folder, args.huge_rows, TEN_COLUMNS)
            print(f"  {args.huge_rows:,} rows x 10 columns: ours ...", flush=True)
            result = run_tool("ours", reference, current, folder / "ours.json")
            lines.append(_row(args.huge_rows, 10, "ours", result, "n/a"))
            if "error" not in result:
                drifted = sorted(n for n, c in result["columns"].items() if c["drifted"])
                expected = sorted(set(TEN_COLUMNS) & SHIFTED)
                notes.append(f"{args.huge_rows:,}-row run: drifted {drifted}; shifted {expected}")
    print("\n".join(lines + notes))
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if disagreements:
        print("verdicts differ on: " + ", ".join(disagreements))


if __name__ == "__main__":
    main()
