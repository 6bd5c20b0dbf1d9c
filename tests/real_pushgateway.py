"""A real Pushgateway (Debian's `prometheus-pushgateway` 1.5) on 127.0.0.1, and a silent peer.

`make monitoring-tools` installs the binary. The gateway keeps what is pushed in memory only
(its persistence file lives in the test's folder) and serves it back on /metrics, which is
what Prometheus scrapes; `samples` reads that page the way Prometheus would.
"""

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

BINARY = "prometheus-pushgateway"
INSTALL = "run `make monitoring-tools` (apt-get install prometheus-pushgateway)"
# Series the gateway adds to every group it holds; not what a gate pushed.
BOOKKEEPING = {"push_time_seconds", "push_failure_time_seconds"}


class RealPushgateway:
    """A `prometheus-pushgateway` process on a free port, stopped by its own pid."""

    def __init__(self, folder: Path, port: int):
        self.folder, self.port = folder, port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The address gates push to (KFP_MLOPS_PUSHGATEWAY_URL)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "RealPushgateway":
        """Start and wait until it answers."""
        binary = shutil.which(BINARY) or shutil.which(BINARY, path="/usr/bin")
        if binary is None:
            raise RuntimeError(f"{BINARY} is not installed: {INSTALL}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log = (self.folder / "pushgateway.log").open("w")
        self.proc = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-admin-api",
             f"--persistence.file={self.folder / 'pushgateway.data'}"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pushgateway exited: see {self.folder / 'pushgateway.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("pushgateway did not become ready in 30 s")

    def wipe(self) -> None:
        """Delete every group (the admin API)."""
        request = urllib.request.Request(f"{self.url}/api/v1/admin/wipe", method="PUT")
        with urllib.request.urlopen(request, timeout=5):
            pass

    def samples(self, prefix: str = "kfp_mlops_") -> list[tuple[str, dict[str, str], float]]:
        """Every (name, labels, value) it serves whose name starts with `prefix`."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        return [
            (s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name.startswith(prefix) and s.name not in BOOKKEEPING
        ]

    def stop(self) -> None:
        """Stop the process (its own, by pid)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.log.close()


class SilentPeer:
    """A 127.0.0.1 socket that accepts connections and never answers (a hung gateway)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)  # the kernel completes handshakes; nobody ever reads or writes

    @property
    def url(self) -> str:
        """Its address, as a Pushgateway URL."""
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        """Close the listening socket."""
        self.sock.close()
