"""Run kfp's executor (`python -m kfp.dsl.executor_main ARGS`) inside this process.

Both ways a local task can run in an interpreter that is already up use it: forked from the
warm runner (kfp_mlops/runs/warm.py) and cold behind the profiler
(kfp_mlops/runs/taskprofile.py). It imports neither, so neither imports the other.
"""

import os
import runpy
import signal
import sys


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run_task(args: list[str]) -> int:
    """Run `python -m kfp.dsl.executor_main ARGS` in this process; return its exit code."""
    sys.argv = ["-m", *args[2:]]
    try:
        runpy.run_module("kfp.dsl.executor_main", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return _exit_code(exc)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:  # reported the way the interpreter reports it
        sys.excepthook(*sys.exc_info())
        return 1
    return 0
