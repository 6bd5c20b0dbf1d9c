"""Parameter checks of a warm local run, done in a process forked from the warm runner.

Checking a run's parameters builds the chosen estimator (scikit-learn) and the GX suite
(Great Expectations): seconds of imports that the warm runner does anyway for the tasks.
`run-local` used to import them a second time in its own process, beside the runner, on the
same cores. Now it sends the values to the runner, which imports what the checks need first
(imports only, as always), forks, and the forked process runs the same rules
(kfp_mlops/params/rules.py `problems`) and answers with their messages. Nothing runs in the
runner itself.

Whatever goes wrong on the way (no runner, a runner that went away or does not answer within
ASK_TIMEOUT_S, a check that raised)
makes `run-local` check in its own process instead, as it did before: the answer is the same,
only slower, and an exception a rule raises is raised there as before.
"""

import base64
import json
import os
import pickle
import signal
import socket
import struct
import sys
from collections.abc import Callable, Mapping
from typing import Any

# What the rules import when they run, in the order the runner's preload has them. GX only
# when a suite has expectations (checking the baseline `{}` needs none; 2-7 s of imports).
GX = "great_expectations"
CHECK_IMPORTS = (
    "pandas",
    GX,
    "components.validate_data.suite",
    "components.train_model.core",
    "components.evaluate_model.scoring",
    "components.check_performance.measures",
    "components.detect_drift.stattests",
    "kfp_mlops.params.rules",
)
REQUEST_KEY = "check"
# A runner that hangs (stopped, swapped out) costs a check this long at most, then the check
# runs in this process.
ASK_TIMEOUT_S = 60.0


def imports_for(values: Mapping[str, Any]) -> list[str]:
    """What checking VALUES imports: the runner imports these before it forks the check."""
    suite = values.get("suite")
    needs_gx = isinstance(suite, dict) and bool(suite.get("expectations"))
    return [name for name in CHECK_IMPORTS if needs_gx or name != GX]


Problems = Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]


def in_process(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[str]:
    """The rules, checked in this process."""
    from kfp_mlops.params.rules import problems

    return problems(values, defaults)


def _ask(path: str, values: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[str] | None:
    """The runner's answer, or None when there is none to be had."""
    payload = base64.b64encode(pickle.dumps((dict(values), dict(defaults)))).decode()
    request = {
        "args": [],
        REQUEST_KEY: payload,
        "imports": imports_for(values),
        "cwd": os.getcwd(),
        "env": dict(os.environ),
    }
    data = json.dumps(request).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(ASK_TIMEOUT_S)
            sock.connect(path)
            # The runner's protocol carries three descriptors; a check does not use them.
            socket.send_fds(sock, [struct.pack("!Q", len(data))], [0, 1, 2])
            sock.sendall(data)
            for line in sock.makefile("r"):
                reply = json.loads(line)
                if "problems" in reply:
                    return [str(p) for p in reply["problems"]]
    except (OSError, ValueError):
        return None
    return None


def by_runner(socket_path: str | None) -> Problems:
    """`problems` answered by the warm runner at SOCKET_PATH, else checked in this process."""

    def check(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[str]:
        found = _ask(socket_path, values, defaults) if socket_path else None
        return in_process(values, defaults) if found is None else found

    return check


def wanted(request: dict) -> list[str]:
    """In the runner: what to import before forking REQUEST's check, in preload order."""
    asked = set(request.get("imports", CHECK_IMPORTS))
    return [name for name in CHECK_IMPORTS if name in asked]


def fork(
    request: dict, fds: list[int], reply: socket.socket, close_runner: Callable[[], None]
) -> int:
    """In the runner: fork the process that checks REQUEST and answers on REPLY; its pid.

    FDS (the client's streams, part of the runner's protocol) are not used: closed here.
    """
    for fd in fds:
        os.close(fd)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            close_runner()  # none of the runner's sockets stay open in the check
            code = child(request, reply)
        finally:
            sys.stdout.flush()
            os._exit(code)
    return pid


def child(request: dict, reply: socket.socket) -> int:
    """In the process forked for a check request: run the rules, send their messages."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    values, defaults = pickle.loads(base64.b64decode(request[REQUEST_KEY]))
    try:
        found = in_process(values, defaults)
    except Exception as exc:  # run-local checks again in its own process and raises there
        print(f"[warm] a parameter check raised {type(exc).__name__}: {exc}", flush=True)
        return 1
    reply.sendall(json.dumps({"problems": found}).encode() + b"\n")
    return 0
