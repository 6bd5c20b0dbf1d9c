"""Background processes owned through pid files: started in their own group, stopped by group."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

_PROCFS = Path("/proc/self/stat")


class OwnedProcess:
    """One long-running process of ours, found again through its pid file by any later caller."""

    def __init__(self, pid_file: Path, log_file: Path):
        """Name the files of one process.

        Args:
            pid_file: Its pid and kernel start time while it runs; a pid whose start time
                differs was reused by some other process, which is never signalled.
            log_file: Where its stdout and stderr go.
        """
        self.pid_file = pid_file
        self.log_file = log_file
        self._popen: subprocess.Popen | None = None

    def pid(self) -> int | None:
        """The pid if the process runs, else None (a stale pid file is removed)."""
        if self._popen is not None:
            self._popen.poll()  # reap our own exited child, so it does not pass for alive
        try:
            pid_text, started = self.pid_file.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            pid, started = None, None
        if pid is not None and _start_time(pid) == started:
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self, command: list[str], env: dict[str, str], cwd: Path) -> int:
        """Start the command in a new session (its own process group), logging to the log file."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as out:
            self._popen = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so a stop reaches its children too (MLflow's worker)
            )
        self.pid_file.write_text(f"{self._popen.pid} {_start_time(self._popen.pid)}\n")
        return self._popen.pid

    def stop(self, timeout: float) -> str | None:
        """SIGTERM the process group, SIGKILL it after `timeout` s; None if it was not running."""
        pid = self.pid()
        if pid is None:
            return None
        outcome = "stopped"
        _signal_group(pid, signal.SIGTERM)
        if not self._wait_gone(pid, timeout):
            outcome = "killed"
            _signal_group(pid, signal.SIGKILL)
            self._wait_gone(pid, 5.0)
        self.pid_file.unlink(missing_ok=True)
        self._popen = None
        return outcome

    def kill(self) -> int | None:
        """SIGKILL the process group at once, as a crash would; the pid, or None if not running."""
        pid = self.pid()
        if pid is None:
            return None
        _signal_group(pid, signal.SIGKILL)
        self._wait_gone(pid, 5.0)  # SIGKILL cannot be caught: gone as soon as it is reaped
        self.pid_file.unlink(missing_ok=True)
        self._popen = None
        return pid

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._reap(pid)
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        return False

    def _reap(self, pid: int) -> None:
        # A child of this Python stays a zombie, and keeps its group alive, until waited for.
        if self._popen is not None and self._popen.pid == pid:
            self._popen.poll()
            return
        with contextlib.suppress(ChildProcessError):  # not our child: init reaps it
            os.waitpid(pid, os.WNOHANG)

    def tail(self, lines: int = 20) -> str:
        """The last lines of the log, for error messages."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log written)"


def _start_time(pid: int) -> str | None:
    """The kernel start time of a live process (None when gone or a zombie)."""
    if not _PROCFS.exists():  # no procfs (macOS): liveness is all that can be told
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "-"
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name before ")" may hold spaces
    return None if fields[0] == "Z" else fields[19]  # state is field 3, starttime field 22


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on host:port (TIME_WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_ports(host: str, count: int, exclude: set[int]) -> list[int]:
    """Distinct ports nothing listens on now (the sockets are held together so none repeats)."""
    sockets, ports = [], []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sockets.append(sock)
            sock.bind((host, 0))
            if (port := sock.getsockname()[1]) not in exclude:
                ports.append(port)
    finally:
        for sock in sockets:
            sock.close()
    return ports


def free_port_pair(host: str, offset: int, exclude: set[int]) -> int:
    """A free port whose neighbour `offset` above is free too (for servers that derive one)."""
    for _ in range(100):
        [port] = free_ports(host, 1, exclude)
        partner = port + offset
        if partner <= 65535 and partner not in exclude and not port_in_use(host, partner):
            return port
    raise OSError(f"no free port on {host} with a free port {offset} above it")


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds a secret)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(fd, 0o600)  # O_CREAT keeps the mode of a file that already existed
        handle.write(text)
