"""How many CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota.

`os.cpu_count()` counts the node's cores; a pod limited to one CPU (`resources.limits.cpu`)
still sees all of them. Work split over threads sizes itself with `usable_cpus()` instead.
"""

import math
import os
from pathlib import Path

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def quota_cpus(text: str) -> int | None:
    """CPUs allowed by a cgroup v2 `cpu.max` line ("QUOTA PERIOD"; "max ..." = no quota)."""
    fields = text.split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None


def usable_cpus(cpu_max: Path = CPU_MAX) -> int:
    """CPUs this process may run on at once (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota = quota_cpus(cpu_max.read_text())
    except OSError:  # cgroup v1 or no cgroup file system: affinity only
        quota = None
    return max(1, min(cpus, quota) if quota else cpus)
