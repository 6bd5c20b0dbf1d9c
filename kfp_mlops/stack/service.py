"""One service of the embedded stack: a process we own, its port, and when it answers."""

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from components._shared.errors import ServiceError
from kfp_mlops.stack.processes import OwnedProcess, port_in_use

if TYPE_CHECKING:
    from kfp_mlops.stack import Stack

HOST = "127.0.0.1"
STOP_TIMEOUT_S = 15.0
# Requests to 127.0.0.1 never go through an HTTP proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Log = Callable[[str], None]


class Service:
    """A server process of the stack; subclasses say how to start it and when it is ready.

    Attributes:
        name: Key in status() and the pid/log file names.
        title: For humans.
        binary: Executable name, found beside this Python or on PATH.
        port_env: Environment variable that moves its user-facing port.
        timeout_s: How long start-up may take before it counts as failed.
    """

    name = ""
    title = ""
    binary = ""
    port_env = ""
    timeout_s = 30.0

    def __init__(self, stack: "Stack", port: int):
        """Describe the service of `stack` on `port` (nothing starts here)."""
        self.stack = stack
        self.port = port
        self.process = OwnedProcess(stack.home / f"{self.name}.pid", self.log_file)

    @property
    def url(self) -> str:
        """Where it answers."""
        return f"http://{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        """Where its output goes."""
        return self.stack.home / "logs" / f"{self.name}.log"

    def command(self, binary: Path) -> tuple[list[str], dict[str, str]]:
        """The command line and environment that start it (may write its config files)."""
        raise NotImplementedError

    def ready(self, log: Log) -> None:
        """After it answers: make it usable (buckets, ...); nothing by default."""

    def _health_url(self) -> str:
        return self.url + "/"

    def _refusal_answers(self) -> bool:
        """Whether an HTTP error status counts as answering (S3 refuses unsigned requests)."""
        return False

    def answering(self) -> bool:
        """Whether it answers HTTP now."""
        try:
            with _HTTP.open(self._health_url(), timeout=2) as response:
                return response.status == 200
        except urllib.error.HTTPError:
            return self._refusal_answers()
        except OSError:
            return False

    def check_port(self, pid: int | None) -> None:
        """Refuse a port held by someone else, or a move of a running service to another port."""
        if pid is None and port_in_use(HOST, self.port):
            raise ServiceError(
                f"port {self.port} on {HOST} is in use by another process; stop it or set "
                f"{self.port_env}"
            )
        recorded = self.stack.recorded_ports().get(self.name, {}).get("port")
        if pid is not None and recorded not in (None, self.port):
            raise ServiceError(
                f"{self.title} is already running on port {recorded} (pid {pid}); "
                f"run `kfp-mlops stack down` before moving it to {self.port_env}={self.port}"
            )

    def start(self, binary: Path) -> int:
        """Start the process in its own group; its pid."""
        command, env = self.command(binary)
        return self.process.start(command, env, cwd=self.stack.home)

    def wait(self, pid: int, started: float, log: Log) -> None:
        """Wait until it answers; stop it and raise if it exits or takes too long."""
        while not self.answering():
            if self.process.pid() != pid:
                self.fail("exited during start-up")
            if time.monotonic() - started > self.timeout_s:
                self.fail(f"did not answer within {self.timeout_s:.0f} s")
            time.sleep(0.25)
        log(f"{self.title} answering after {time.monotonic() - started:.1f} s")

    def fail(self, what: str) -> None:
        """Stop a half-started service (none is left behind) and raise naming its log."""
        self.process.stop(STOP_TIMEOUT_S)
        raise ServiceError(
            f"{self.title} {what} on {self.url}; see {self.process.log_file}:\n"
            f"{self.process.tail()}"
        )
