"""Sharded drift through the mergeable state, against the one-pod path, on the same files.

Generates a seeded reference/current pair (`drift_data.write_pair`, 20 columns, 6 shifted,
row groups of 1e6 rows), then, each task in its own interpreter as a pod would be:
- one pod: `detect_drift` on both files (streaming: two passes);
- sharded: a plan from the footers (`footers.plan_from_footers`), K map tasks per side
  (whole row groups, `state.partial`, `state_io.save`), one reduce (`state_io.load`,
  `state.merge_all`, `finalize`, `core.assemble`); a second map round only for columns the
  footers could not plan.
Prints per task wall time and peak RSS, the state file sizes, the verdicts of both paths,
and the wall a cluster would take with P = K (plan + slowest map + reduce).
Usage: python -m benchmarks.drift_state [--rows N] [--shards K]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.drift import generated

REPO = Path(__file__).resolve().parent.parent


def _task(argv: list[str]) -> dict:
    """Run one task in a new interpreter; its JSON (wall, peak RSS and results)."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.drift_state", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"task {argv[:2]} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_rss_mib() -> float:
    """This process's peak RSS since its exec (VmHWM).

    Not getrusage's ru_maxrss: Linux carries that across fork and exec, so a task started by
    a parent that generated the data would report the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status: peak RSS needs Linux")


def _measured(start: float, **out) -> None:
    rss, cpu = peak_rss_mib(), time.process_time()  # CPU since the interpreter started
    print(
        json.dumps(
            {**out, "wall_s": time.perf_counter() - start, "peak_rss_mib": rss, "cpu_s": cpu}
        )
    )


def one_pod(reference: str, current: str) -> None:
    """Task: the one-pod path, as the component calls it."""
    start = time.perf_counter()
    from components._shared.io.sources import open_source
    from components.detect_drift.core import detect_drift

    result = detect_drift(open_source(reference), open_source(current))
    verdicts = {c.column: [c.method, c.drifted, c.score] for c in result.columns}
    _measured(start, verdicts=verdicts, drifted=result.drifted, mode=result.mode)


def plan(reference: str, current: str, out: str) -> None:
    """Task: the plan from both files' footers (no row read)."""
    start = time.perf_counter()
    import pyarrow.parquet as pq

    from components.detect_drift import footers, state
    from components.detect_drift.finalize import Rules

    ref_schema, cur_schema = pq.read_schema(reference), pq.read_schema(current)
    names = list(ref_schema.names)
    first = state.facts_plan(ref_schema, cur_schema, names)
    planned = footers.plan_from_footers(first, [reference], [current], Rules())
    Path(out).write_text(planned.to_json())
    gridded = sum(c.grid is not None for c in planned.columns.values())
    _measured(start, gridded=gridded, grid_bins=planned.grid_bins)


def map_shard(plan_path: str, side: str, path: str, groups: str, out: str) -> None:
    """Task: one side's state of some row groups, saved with its sha256."""
    start = time.perf_counter()
    import pyarrow.parquet as pq

    from components._shared.io.sources import BATCH_ROWS, family
    from components.detect_drift import state, state_io

    planned = state.Plan.from_json(Path(plan_path).read_text())
    handle = pq.ParquetFile(path)
    names = list(planned.columns)
    text = [f.name for f in handle.schema_arrow if family(f.type) == "text" and f.name in names]

    def batches():
        # As the one-pod reader (sources.ParquetSource): a reader per row group, text read
        # dictionary-encoded (counted by index), batches of BATCH_ROWS.
        for group in (int(g) for g in groups.split(",")):
            reader = pq.ParquetFile(path, metadata=handle.metadata, read_dictionary=text or None)
            yield from reader.iter_batches(BATCH_ROWS, row_groups=[group], columns=names)

    state_io.save(state.partial(batches(), planned, side), out)
    _measured(start, state_mib=Path(out).stat().st_size / 2**20)


def reduce(plan_path: str, states: str) -> None:
    """Task: load every state (sha256 checked), merge each side, finalize, decide."""
    start = time.perf_counter()
    from components.detect_drift import state, state_io
    from components.detect_drift.core import assemble
    from components.detect_drift.finalize import Rules, finalize

    paths = json.loads(states)
    merged = {side: state.merge_all(state_io.load(p) for p in paths[side]) for side in paths}
    outcome = finalize(merged["reference"], merged["current"], Rules())
    names = list(merged["reference"].plan.columns)
    out = {"grid_ranges": {n: list(r) for n, r in outcome.grid_ranges.items()}}
    if not outcome.grid_ranges:
        rows = (merged["reference"].rows, merged["current"].rows)
        result = assemble(names, outcome.results, 0.5, rows, "streaming", False)
        out["verdicts"] = {c.column: [c.method, c.drifted, c.score] for c in result.columns}
        out["drifted"], out["needs_refinement"] = result.drifted, outcome.needs_refinement
    _measured(start, **out)


def _shards(path: Path, k: int) -> list[str]:
    import pyarrow.parquet as pq

    groups = list(range(pq.ParquetFile(path).num_row_groups))
    size = -(-len(groups) // k)
    return [",".join(map(str, groups[i : i + size])) for i in range(0, len(groups), size)]


def main() -> None:
    """Generate the pair, run both paths task by task, print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--shards", type=int, default=4, help="K map tasks per side")
    parser.add_argument("--task", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task:
        tasks = {"one-pod": one_pod, "plan": plan, "map": map_shard, "reduce": reduce}
        tasks[args.task[0]](*args.task[1:])
        return
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"drift_state: {os.cpu_count()} cores, load average at start {load}", flush=True)
    with tempfile.TemporaryDirectory(prefix="drift-state-") as tmp:
        tmp = Path(tmp)
        print(f"  writing {args.rows:,} rows x 20 columns per side ...", flush=True)
        ref, cur = generated(tmp / "data", args.rows)
        lines = [
            "| task | count | wall s (sum) | slowest s | CPU s (sum) | peak RSS MiB (max) | notes |"
        ]
        lines.append("|---|---|---|---|---|---|---|")
        pod = _task(["--task", "one-pod", str(ref), str(cur)])
        lines.append(
            f"| one pod | 1 | {pod['wall_s']:.1f} | {pod['wall_s']:.1f} | {pod['cpu_s']:.1f} | "
            f"{pod['peak_rss_mib']:,.0f} | {pod['mode']} |"
        )
        plan_path = tmp / "plan.json"
        planned = _task(["--task", "plan", str(ref), str(cur), str(plan_path)])
        maps, paths = [], {"reference": [], "current": []}
        for side, path in (("reference", ref), ("current", cur)):
            for i, groups in enumerate(_shards(path, args.shards)):
                out = tmp / f"{side}-{i}.npz"
                maps.append(
                    _task(["--task", "map", str(plan_path), side, str(path), groups, str(out)])
                )
                paths[side].append(str(out))
        reduced = _task(["--task", "reduce", str(plan_path), json.dumps(paths)])
        if reduced["grid_ranges"]:
            sys.exit(f"footers left columns unplanned: {sorted(reduced['grid_ranges'])}")
        walls = [m["wall_s"] for m in maps]
        sizes = [m["state_mib"] for m in maps]
        lines.append(
            f"| plan (footers) | 1 | {planned['wall_s']:.1f} | {planned['wall_s']:.1f} | "
            f"{planned['cpu_s']:.1f} | "
            f"{planned['peak_rss_mib']:,.0f} | {planned['gridded']} columns gridded, "
            f"{planned['grid_bins']:,} bins |"
        )
        lines.append(
            f"| map (one pass) | {len(maps)} | {sum(walls):.1f} | {max(walls):.1f} | "
            f"{sum(m['cpu_s'] for m in maps):.1f} | "
            f"{max(m['peak_rss_mib'] for m in maps):,.0f} | state file "
            f"{min(sizes):.1f} to {max(sizes):.1f} MiB |"
        )
        lines.append(
            f"| reduce | 1 | {reduced['wall_s']:.1f} | {reduced['wall_s']:.1f} | "
            f"{reduced['cpu_s']:.1f} | "
            f"{reduced['peak_rss_mib']:,.0f} | needs refinement: "
            f"{reduced['needs_refinement'] or 'none'} |"
        )
        same = {n: v[:2] for n, v in pod["verdicts"].items()} == {
            n: v[:2] for n, v in reduced["verdicts"].items()
        }
        worst = max(
            abs(a[2] - reduced["verdicts"][n][2]) / max(abs(a[2]), 1e-300)
            for n, a in pod["verdicts"].items()
            if a[2] is not None
        )
        cluster = planned["wall_s"] + max(walls) + reduced["wall_s"]
        print("\n".join(lines))
        print(
            f"verdicts equal to one pod's: {same} (largest relative score difference "
            f"{worst:.1g}); dataset drift: one pod {pod['drifted']}, sharded "
            f"{reduced['drifted']}"
        )
        work = planned["wall_s"] + sum(walls) + reduced["wall_s"]
        print(
            f"sharded work (sum of tasks) {work:.1f} s; "
            f"estimated cluster wall with every map task in parallel (P = {len(maps)}): plan + "
            f"slowest map + reduce = {cluster:.1f} s"
        )
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
