"""The `python` a warm local run hands to kfp.local: passes a task to the warm runner, or execs.

kfp.local's SubprocessRunner starts each task as `sh -ec '... python -m kfp.dsl.executor_main
...'` with `python` replaced by `sys.executable`. In a warm run (kfp_mlops/runs/warm.py)
`sys.executable` is a two-line script that runs this file with `-I -S`, so it starts in a few
milliseconds and imports only the standard library. For `-m kfp.dsl.executor_main` it sends
its argv, environment, working directory and stdin/stdout/stderr to the warm runner, which
forks a task process with the libraries already imported; this process then stands in for the
task: it forwards SIGINT/SIGTERM/SIGHUP to it and exits as it exited (same code, or killed by
the same signal). Anything else, or no warm runner to reach, execs the real interpreter, so a
task never depends on the warm runner being up.
"""

import json
import os
import signal
import socket
import struct
import sys
import time

# As warm.py and taskprofile.py name them: this file runs with -I -S, imports no project code.
SOCKET_ENV = "KFP_MLOPS_WARM_SOCKET"
PROFILE_ENV = "KFP_MLOPS_TASK_PROFILE"
EXECUTOR = ["-m", "kfp.dsl.executor_main"]
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _exec_real(args: list[str], started: float) -> None:
    if os.environ.get(PROFILE_ENV) and args[:2] == EXECUTOR:
        # A cold task, profiled: the same executor, behind kfp_mlops/runs/taskprofile.py.
        args = ["-m", "kfp_mlops.runs.taskprofile", repr(started), *args]
    os.execv(sys.executable, [sys.executable, *args])


def _connect(path: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def _exit_as(status: int) -> None:
    """Leave the way the task process left: its exit code, or death by its signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # their handlers cannot be set
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def main(args: list[str]) -> None:
    """Hand `-m kfp.dsl.executor_main ...` to the warm runner and stand in for it; else exec."""
    started = time.time()
    path = os.environ.get(SOCKET_ENV)
    sock = _connect(path) if path and args[:2] == EXECUTOR else None
    if sock is None:
        _exec_real(args, started)
    request = json.dumps(
        {"args": args, "cwd": os.getcwd(), "env": dict(os.environ), "started": started}
    ).encode()
    socket.send_fds(sock, [struct.pack("!Q", len(request))], [0, 1, 2])
    sock.sendall(request)
    replies = sock.makefile("r")
    pid = None
    for line in replies:
        reply = json.loads(line)
        if "status" in reply:
            _exit_as(reply["status"])
        pid = reply["pid"]
        for sig in _FORWARDED:
            signal.signal(sig, lambda signum, _frame, task=pid: os.kill(task, signum))
    if pid is None:
        # The runner refused or went away before forking: run the task here instead.
        sock.close()
        _exec_real(args, started)
    print(f"kfp-mlops: the warm runner exited while task {pid} ran", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
