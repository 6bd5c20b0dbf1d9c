"""The sharded drift step through kfp.local against the one-pod path, on the same files.

Generates the seeded 20-column pair of benchmarks/drift_data.py (6 shifted columns, row
groups of 1e6 rows), then:
- one pod: detect_drift in its own interpreter (benchmarks/drift_state.py's task);
- sharded: a pipeline of the monitoring pipeline's sharded drift step (pipelines/
  drift_steps.py: plan → ParallelFor(K shards a side, parallelism 16) → reduce via
  dsl.Collected) on the two files imported as datasets, run by kfp.local's SubprocessRunner
  (each task its own interpreter; kfp.local 2.17.3 runs two iterations at a time).
Each task process is sampled every 0.1 s (/proc: peak RSS as VmHWM, CPU, lifetime), so the
figures per task are measured, not assumed. Printed: per kind of task the count, wall (sum
and slowest), CPU, peak RSS; whether the verdicts equal the one pod's; the total work; and
the wall a cluster would take with P = 16 map pods at once, from the measured per-task
times (pod start-up, two pods per task on KFP, not included: it depends on the cluster).
With `--distinct D`, each side is a folder of K parts of rows/K rows where only D parts are
generated (each with its own seed) and the other K - D are hard links to them (part i links
to part i mod D): every row is still read, decoded and counted by both paths, but a pair of
1e9 rows a side takes D/K of its ~92 GB on disk. (Repeated parts may be served from the
page cache where distinct ones would be read from disk: the run says how much was distinct.)
Usage: python -m benchmarks.drift_sharded [--rows N] [--shards K] [--distinct D]
       1e9 rows on this machine: --rows 1000000000 --shards 16 --distinct 4
"""

import argparse
import heapq
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.drift import generated
from benchmarks.drift_state import _task

REPO = Path(__file__).resolve().parent.parent
P = 16


class Sampler(threading.Thread):
    """Every task process (`--function_to_execute NAME`): lifetime, CPU and peak RSS."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen: dict[int, dict] = {}
        self.stop = threading.Event()

    def _sample(self, pid: int) -> None:
        proc = Path(f"/proc/{pid}")
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            if b"--function_to_execute" not in args:
                return
            status = (proc / "status").read_text()
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return
        hwm = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM:"))
        name = args[args.index(b"--function_to_execute") + 1].decode()
        tick = os.sysconf("SC_CLK_TCK")
        ppid = int(stat[1])
        entry = self.seen.setdefault(pid, {"task": name, "first": time.monotonic(), "ppid": ppid})
        entry.update(last=time.monotonic(), rss_mib=hwm / 1024)
        entry["cpu_s"] = (int(stat[11]) + int(stat[12])) / tick

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()):
                self._sample(pid)
            time.sleep(0.1)


def linked_parts(folder: Path, rows: int, parts: int, distinct: int) -> tuple[Path, Path]:
    """Both sides as folders of `parts` parts; `distinct` generated, the others hard links.

    The generated parts are written two at a time, each in an interpreter of its own (so
    neither this process nor the tasks after it carry the writer's memory).
    """
    if not 1 <= distinct <= parts:
        sys.exit(f"--distinct must be between 1 and the number of parts ({parts}), not {distinct}")
    part_rows = -(-rows // parts)
    counts = [min(part_rows, rows - i * part_rows) for i in range(parts)]
    if distinct < parts and len(set(counts)) > 1:
        sys.exit(f"--rows {rows} does not split into {parts} equal parts: linked parts need it")
    code = (
        "import sys; from pathlib import Path; from benchmarks.drift_data import write_side; "
        "write_side(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == '1')"
    )
    jobs = []
    for side, shifted in (("reference", False), ("current", True)):
        (folder / side).mkdir(parents=True)
        for i in range(distinct):
            seed = 1000 * shifted + i  # every generated part has a seed of its own
            path = folder / side / f"part-{i:05d}.parquet"
            jobs.append([str(path), str(counts[i]), str(seed), "1" if shifted else "0"])
    running: list[subprocess.Popen] = []
    for job in jobs:
        if len(running) == 2:
            running.pop(0).wait()
        running.append(subprocess.Popen([sys.executable, "-c", code, *job], cwd=REPO))
    for proc in running:
        proc.wait()
    for side in ("reference", "current"):
        for i in range(distinct, parts):
            source = folder / side / f"part-{i % distinct:05d}.parquet"
            os.link(source, folder / side / f"part-{i:05d}.parquet")
    return folder / "reference", folder / "current"


def _pipeline(shards: int):
    from kfp import dsl

    from pipelines.drift_steps import sharded_drift

    @dsl.pipeline(name="drift-sharded-benchmark")
    def bench(reference_uri: str, current_uri: str):
        ref = dsl.importer(artifact_uri=reference_uri, artifact_class=dsl.Dataset)
        cur = dsl.importer(artifact_uri=current_uri, artifact_class=dsl.Dataset)
        sharded_drift(ref.output, cur.output, shards, "collected", [], "auto", 0.5, {}, "bench", "")

    return bench


def sharded(ref: Path, cur: Path, shards: int, root: Path) -> tuple[list[dict], dict]:
    """Run the sharded step through kfp.local; each task's figures and the reduce's result."""
    from kfp import local

    os.environ["PYTHONPATH"] = str(REPO)
    os.environ["TMPDIR"] = str(root)
    local.init(local.SubprocessRunner(use_venv=False), pipeline_root=str(root / "runs"))
    sampler = Sampler()
    sampler.start()
    _pipeline(shards)(reference_uri=str(ref), current_uri=str(cur))
    sampler.stop.set()
    sampler.join()
    (out,) = (root / "runs").rglob("merge-drift-states/executor_output.json")
    raw = json.loads(out.read_text())
    metrics = raw["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    report = raw["artifacts"]["report"]["artifacts"][0]["metadata"]
    # A task shows as a shell and its Python child with the same arguments: keep the child.
    parents = {e["ppid"] for e in sampler.seen.values()}
    tasks = [
        dict(e, wall_s=e["last"] - e["first"]) for p, e in sampler.seen.items() if p not in parents
    ]
    return tasks, {"metrics": metrics, "report": report}


def _bytes(path: Path) -> float:
    """GB of Parquet under a file or folder, counting every hard link (as a reader sees it)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*.parquet")]
    return sum(p.stat().st_size for p in files) / 1e9


def cluster_wall(plan: float, maps: list[float], reduce: float, p: int = P) -> float:
    """Plan + the map tasks scheduled on p slots (longest first, to the first free) + reduce."""
    slots = [0.0] * min(p, len(maps))
    for t in sorted(maps, reverse=True):
        heapq.heapreplace(slots, slots[0] + t) if slots else None
    return plan + max(slots, default=0.0) + reduce


def main() -> None:
    """Generate, run both paths, print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows per side")
    parser.add_argument("--shards", type=int, default=16, help="K shards per side")
    parser.add_argument(
        "--distinct",
        type=int,
        default=0,
        help="write each side as K parts of which D are generated, the rest hard links",
    )
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"drift_sharded: {os.cpu_count()} cores, load average at start {load}", flush=True)
    with tempfile.TemporaryDirectory(prefix="drift-sharded-") as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        print(f"  writing {args.rows:,} rows x 20 columns per side ...", flush=True)
        if args.distinct:
            ref, cur = linked_parts(tmp / "data", args.rows, args.shards, args.distinct)
        else:
            ref, cur = generated(tmp / "data", args.rows)
        files = [p.stat() for p in (tmp / "data").rglob("*.parquet")]
        on_disk = sum({f.st_ino: f.st_size for f in files}.values())  # a hard link once
        print(
            f"  written in {time.perf_counter() - started:.0f} s: "
            f"{_bytes(ref):.2f} GB a side as read, {on_disk / 1e9:.2f} GB on disk"
            + (f" ({args.distinct} of {args.shards} parts a side generated)" * bool(args.distinct)),
            flush=True,
        )
        pod = _task(["--task", "one-pod", str(ref), str(cur)])
        print(f"  one pod done in {pod['wall_s']:.1f} s", flush=True)
        begun = time.perf_counter()
        tasks, result = sharded(ref, cur, args.shards, tmp)
        elapsed = time.perf_counter() - begun
        by = {}
        for t in tasks:
            by.setdefault(t["task"], []).append(t)
        lines = ["| task | count | wall s (sum) | slowest s | CPU s (sum) | peak RSS MiB (max) |"]
        lines.append("|---|---|---|---|---|---|")
        lines.append(
            f"| one pod (detect_drift) | 1 | {pod['wall_s']:.1f} | {pod['wall_s']:.1f} | "
            f"{pod['cpu_s']:.1f} | {pod['peak_rss_mib']:,.0f} |"
        )
        for name in ("plan_drift_shards", "drift_shard", "merge_drift_states"):
            rows = by.get(name, [])
            if not rows:
                sys.exit(f"no {name} task was seen: did the run fail?")
            lines.append(
                f"| {name} | {len(rows)} | {sum(r['wall_s'] for r in rows):.1f} | "
                f"{max(r['wall_s'] for r in rows):.1f} | {sum(r['cpu_s'] for r in rows):.1f} | "
                f"{max(r['rss_mib'] for r in rows):,.0f} |"
            )
        print("\n".join(lines))
        scores = result["metrics"]
        drifted = set(result["report"]["columns_drifted"])
        same = drifted == {n for n, v in pod["verdicts"].items() if v[1]}
        worst = max(
            abs(v[2] - scores[f"score_{n}"]) / max(abs(v[2]), 1e-300)
            for n, v in pod["verdicts"].items()
            if v[2] is not None and f"score_{n}" in scores
        )
        print(
            f"verdicts equal to one pod's: {same} (columns drifted {sorted(drifted)}; largest "
            f"relative score difference {worst:.1g}); dataset drift: one pod {pod['drifted']}, "
            f"sharded {bool(scores['drifted'])}"
        )
        walls = {n: [r["wall_s"] for r in rows] for n, rows in by.items()}
        work = sum(sum(w) for w in walls.values())
        estimate = cluster_wall(
            max(walls["plan_drift_shards"]), walls["drift_shard"], max(walls["merge_drift_states"])
        )
        print(
            f"sharded work (sum of task walls) {work:.1f} s; kfp.local wall {elapsed:.1f} s "
            f"(two iterations at a time); estimated cluster wall with P = {P}: {estimate:.1f} s "
            "(plan + map tasks on 16 slots + reduce; pod start-up not included)"
        )
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
