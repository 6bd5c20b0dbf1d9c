"""How a local task's native thread pools wait, and which settings a forked task cannot change.

scikit-learn's HistGradientBoosting runs thousands of short OpenMP regions (libgomp, one
thread per core). At the end of each one, libgomp's default is to spin for 300,000 rounds
before a thread sleeps. On a machine whose cores are busy with other work, a spinning thread
holds a core that its partner needs to finish the region, so the same 1,000-row fit takes
from 0.3 s to 48 s depending on the neighbours (benchmarks/task_times.py). Waiting passively
(sleep at once) keeps the threads and costs little when the machine is idle. A run's tasks
get `OMP_WAIT_POLICY=PASSIVE` unless the environment already says how OpenMP should wait.

OpenMP and the BLAS libraries read their variables once, when the library loads. A warm
task (kfp_mlops/runs/warm.py) is forked from a runner that loaded them, so the runner's
values hold in it whatever the task's environment says; a task whose environment sets them
differently runs in a new interpreter instead (`differs`).
"""

from collections.abc import Mapping

# Read at library load: OpenMP (libgomp), OpenBLAS, MKL, BLIS, numexpr. Not KMP_*: only the
# Intel/LLVM OpenMP runtimes read them, which none of the locked wheels ship, and scikit-learn
# and joblib set two of them when imported (in `run-local` itself, after the runner started).
LOAD_TIME_PREFIXES = ("OMP_", "GOMP_", "OPENBLAS_", "GOTO_", "MKL_", "BLIS_", "NUMEXPR_")

# Any of these already says how OpenMP threads wait; then the run adds nothing.
WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
TASK_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def task_env(env: Mapping[str, str]) -> dict[str, str]:
    """ENV for a local run's tasks: OpenMP threads sleep when idle unless ENV says otherwise."""
    if any(name in env for name in WAIT_SETTINGS):
        return dict(env)
    return {**env, **TASK_DEFAULTS}


def load_time_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The variables in ENV that native thread pools read once, when their library loads."""
    return {k: v for k, v in env.items() if k.startswith(LOAD_TIME_PREFIXES)}


def differs(task: Mapping[str, str], runner: Mapping[str, str]) -> list[str]:
    """Names of load-time variables the task's environment sets differently from the runner's."""
    mine, theirs = load_time_settings(task), load_time_settings(runner)
    return sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
