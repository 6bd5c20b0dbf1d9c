"""A real Prometheus (Debian's `prometheus` 2.42) on 127.0.0.1 with backfilled canary series.

The series are what the model server exposes (`kfp_mlops_serve_requests_total{route,status}`,
`kfp_mlops_serve_request_duration_seconds_bucket{route,le}`) with the labels Prometheus's pod
scrape job adds (namespace, the pod's labels), written as OpenMetrics over the last ten
minutes and turned into TSDB blocks by `promtool tsdb create-blocks-from openmetrics`; then a
`prometheus` process serves them. `make monitoring-tools` installs both binaries.
"""

import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from components.deploy_model import promql

STEP_S, STEPS = 15, 40  # ten minutes of samples, one every 15 s
ROUTE = "/v1/models/{name}:predict"
BUCKETS = ("0.005", "0.01", "0.05", "0.1", "0.25", "0.5", "1.0", "+Inf")
INSTALL = "run `make monitoring-tools` (apt-get install prometheus: prometheus and promtool)"


@dataclass(frozen=True)
class Canary:
    """One version's traffic: answers per 15 s by status, and where their latencies fall."""

    namespace: str
    service: str
    version: int
    ok_per_step: int
    errors_per_step: int
    latency_s: float  # every request takes about this long (falls in the bucket above it)


def _labels(c: Canary, **extra: str) -> str:
    pairs = {
        promql.NAMESPACE_LABEL: c.namespace,
        promql.SERVICE_LABEL: c.service,
        promql.VERSION_LABEL: str(c.version),
        "route": ROUTE,
    } | extra
    return ",".join(f'{k}="{v}"' for k, v in pairs.items())


def openmetrics(canaries: list[Canary], end: int) -> str:
    """The samples of every canary, ending at `end` (unix seconds)."""
    times = [end - (STEPS - 1 - i) * STEP_S for i in range(STEPS)]
    lines = ["# TYPE kfp_mlops_serve_requests counter"]
    for c in canaries:
        for status, per in (("200", c.ok_per_step), ("500", c.errors_per_step)):
            lines += [
                f"kfp_mlops_serve_requests_total{{{_labels(c, status=status)}}} {per * i} {t}"
                for i, t in enumerate(times)
            ]
    lines.append("# TYPE kfp_mlops_serve_request_duration_seconds histogram")
    for c in canaries:
        per = c.ok_per_step + c.errors_per_step
        for le in BUCKETS:
            inside = le == "+Inf" or c.latency_s <= float(le)
            lines += [
                f"kfp_mlops_serve_request_duration_seconds_bucket{{{_labels(c, le=le)}}} "
                f"{(per if inside else 0) * i} {t}"
                for i, t in enumerate(times)
            ]
    return "\n".join([*lines, "# EOF"]) + "\n"


class RealPrometheus:
    """A `prometheus` process serving backfilled blocks from a temporary folder."""

    def __init__(self, folder: Path, port: int, canaries: list[Canary]):
        self.folder, self.port, self.canaries = folder, port, canaries
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The HTTP API's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "RealPrometheus":
        """Backfill, start, and wait until it answers."""
        for tool in ("prometheus", "promtool"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed: {INSTALL}")
        data, source = self.folder / "data", self.folder / "canaries.om"
        source.write_text(openmetrics(self.canaries, int(time.time()) - 5))
        subprocess.run(
            ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
            check=True, capture_output=True,
        )  # fmt: skip
        config = self.folder / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\n")
        self.log = (self.folder / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1d"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: see {self.folder / 'prometheus.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready in 60 s")

    def stop(self) -> None:
        """Stop the process (its own, by pid)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.log.close()
