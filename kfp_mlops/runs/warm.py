"""Warm task runner for local runs: imports the heavy libraries once, forks a process per task.

A kfp.local task then skips interpreter start and imports.

What runs is unchanged: the compiled spec's command (`sh -ec ... python -m
kfp.dsl.executor_main ...`) with the task's own argv, environment and working directory; only
`python` is kfp_mlops/runs/shim.py, which hands the task here. Each task is still its own
process: forked from this one after the imports, with its own stdin/stdout/stderr (the ones
kfp.local gave the shim, passed over the socket), its own process group, and the interpreter's
exit sequence (non-daemon threads joined, atexit handlers run, streams flushed). It never runs
on a cluster: the KFP backend starts the image's interpreter as the spec says.

The libraries are imported in the order the run's tasks need them (kfp_mlops/runs/preload.py),
between requests: a task that arrives before its libraries are in imports the rest itself.
The socket lives in a private directory (0700) and the runner serves only its own user
(SO_PEERCRED) and only `-m kfp.dsl.executor_main`, or the run's parameter checks
(kfp_mlops/runs/checks.py: the libraries they need are imported first, then they run in a
forked process too).

The runner itself only imports: it must never run an OpenMP region (a scikit-learn fit or
predict). libgomp keeps its thread team across fork without the threads, so every task forked
after that would wait forever at its first parallel region's barrier. OpenMP and BLAS read
their settings once, at load, in the runner: a task whose environment sets them otherwise
(kfp_mlops/runs/threads.py) is handed back to its shim, which runs it in a new interpreter.
"""

import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from pathlib import Path

from kfp_mlops.runs import checks
from kfp_mlops.runs.executor import run_task
from kfp_mlops.runs.preload import preload_order, task_function
from kfp_mlops.runs.taskprofile import PROFILE_ENV
from kfp_mlops.runs.threads import differs, load_time_settings

REQUEST_TIMEOUT_S = 10
SOCKET_ENV = "KFP_MLOPS_WARM_SOCKET"  # shim.py repeats it: it runs with -I -S, stdlib only


def _log(msg: str) -> None:
    print(f"[warm {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("request cut short")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    # The runner serves one connection at a time: a client that sends nothing must not
    # stall every task behind it.
    conn.settimeout(REQUEST_TIMEOUT_S)
    head, fds, _flags, _addr = socket.recv_fds(conn, 8, 3)
    try:
        if len(head) != 8 or len(fds) != 3:
            raise ConnectionError("expected a length and three file descriptors")
        request = json.loads(_recv_exact(conn, struct.unpack("!Q", head)[0]))
        check = checks.REQUEST_KEY in request
        if not check and request.get("args", [])[:2] != ["-m", "kfp.dsl.executor_main"]:
            raise ConnectionError("only `-m kfp.dsl.executor_main` and parameter checks run here")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    conn.settimeout(None)
    return request, fds


def _same_user(conn: socket.socket) -> bool:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def _interpreter_exit(code: int, conn: socket.socket) -> None:
    """Exit as a new interpreter would, tell the shim the code, skip the runner's own cleanup.

    The runner reports a death by signal; reporting a normal exit here spares waiting for it.
    """
    import threading

    with contextlib.suppress(Exception):  # an exit path must not raise
        threading._shutdown()  # joins non-daemon threads, as Py_FinalizeEx does
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps({"status": (code & 0xFF) << 8}).encode() + b"\n")
    os._exit(code)


def _child(request: dict, fds: list[int], runner: "Runner", conn: socket.socket) -> None:
    """In the forked task process: become the task kfp.local asked for, run it, exit."""
    try:
        os.setpgid(0, 0)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        runner.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = request["cwd"]
        import tempfile

        tempfile.tempdir = None  # read TMPDIR again, from the task's environment
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()  # a new interpreter's global RNG is unseeded
        if os.environ.get(PROFILE_ENV):
            from kfp_mlops.runs.taskprofile import TaskProfile

            TaskProfile(request["started"]).install()
        code = run_task(request["args"])
    except BaseException:  # the task process must always exit
        sys.excepthook(*sys.exc_info())
        code = 1
    _interpreter_exit(code, conn)


class Runner:
    """Accept tasks, fork them, report each one's wait status to the shim that sent it."""

    def __init__(self, path: str, spec: str | None = None):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(16)
        self.tasks: dict[int, socket.socket] = {}
        self.selector = selectors.DefaultSelector()
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_w, False)
        os.set_blocking(self.wakeup_r, False)
        signal.set_wakeup_fd(self.wakeup_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, "child")
        self.selector.register(sys.stdin, selectors.EVENT_READ, "parent")
        self.pending = preload_order(Path(spec) if spec else None)  # the spec's tasks first
        self.load_time = load_time_settings(os.environ)  # what the native libraries read
        self.running = True

    def serve(self) -> None:
        """Until the parent closes stdin and every task has ended."""
        while self.running or self.tasks:
            # Import the next library only when no request waits: a task never waits for one.
            events = self.selector.select(timeout=0 if self.pending else None)
            if not events and self.pending:
                self._preload(self.pending.pop(0))
            for key, _mask in events:
                getattr(self, f"_on_{key.data}")()

    def _preload(self, name: str) -> None:
        started = time.monotonic()
        try:
            importlib.import_module(name)
        except Exception as exc:  # a task that needs it imports it and fails there
            _log(f"could not preload {name}: {exc}")
            return
        _log(f"imported {name} in {time.monotonic() - started:.2f} s")

    def _on_accept(self) -> None:
        conn, _ = self.listener.accept()
        try:
            if not _same_user(conn):
                raise ConnectionError("a process of another user")
            request, fds = _read_request(conn)
        except (OSError, ValueError, ConnectionError) as exc:
            _log(f"refused a request: {exc}")
            conn.close()
            return
        if checks.REQUEST_KEY in request:
            self._check(request, fds, conn)
            return
        changed = differs(request.get("env", {}), self.load_time)
        if changed:
            # Closing before a pid is sent tells the shim to run the task itself, cold.
            _log(f"task runs cold: its environment sets {', '.join(changed)} otherwise")
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, fds, self, conn)
        for fd in fds:
            os.close(fd)
        self.tasks[pid] = conn
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        _log(f"task {pid} started: {task_function(request['args']) or '?'}")

    def _check(self, request: dict, fds: list[int], conn: socket.socket) -> None:
        """Import what the parameter checks need (first, before other preloads), fork them."""
        for name in checks.wanted(request):
            if name in self.pending:
                self.pending.remove(name)
            if name not in sys.modules:
                self._preload(name)
        self.tasks[checks.fork(request, fds, conn, self.close)] = conn
        _log("parameter checks started")

    def _on_child(self) -> None:
        while True:
            with contextlib.suppress(BlockingIOError):
                os.read(self.wakeup_r, 512)
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.tasks.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps({"status": status}).encode() + b"\n")
                conn.close()
            _log(f"task {pid} ended: {os.waitstatus_to_exitcode(status)}")

    def close(self) -> None:
        """In a task process: none of the runner's sockets and pipes stay open."""
        self.selector.close()
        for sock in (self.listener, *self.tasks.values()):
            sock.close()
        os.close(self.wakeup_r)
        os.close(self.wakeup_w)

    def _on_parent(self) -> None:
        if not os.read(sys.stdin.fileno(), 512):
            # The run that started this runner is over (or died): take no more tasks.
            self.selector.unregister(sys.stdin)
            self.selector.unregister(self.listener)
            self.listener.close()
            self.running, self.pending = False, []


def serve(path: str, spec: str | None = None) -> int:
    """The runner process's main: listen on PATH, preload (SPEC's tasks first), fork tasks."""
    os.environ["_KFP_RUNTIME"] = "true"  # as the spec's command sets it for the task
    # Ctrl-C reaches the tasks through their shims; the runner ends when its parent does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    Runner(path, spec).serve()
    sys.stdout.flush()
    # Nothing to tear down: skip unloading GX, MLflow and scikit-learn (about a second).
    os._exit(0)


if __name__ == "__main__":
    sys.exit(serve(*sys.argv[1:3]))
