"""A shadow's predictions posted to the log sink as KServe's payload logger would post them.

With `--no-log --shadow-log-url URL` (an InferenceService whose rows the kserve-logger sink
writes), each shadowed request becomes a binary-mode CloudEvent pair: the request (V1
`instances`, one record per row) and the shadow's V1 answer (labels, classes, probabilities,
its model name and version), with the primary request's id as `Ce-Id` and `Ce-Endpoint:
shadow`, which the sink (sink.py) logs with endpoint "shadow". One thread posts them; its
queue is bounded in pairs and in the requests' body bytes (64 MiB), and a pair that does not
fit, or that the sink refuses or does not take within the timeout, is dropped and counted
(`kfp_mlops_shadow_log_events_total`).
"""

import json
import logging
import threading
import time
import urllib.request
from collections import deque
from datetime import datetime

from components._shared.logformat import SHADOW
from components._shared.redact import redact
from kfp_mlops.serve.metrics import Metrics
from kfp_mlops.serve.model import Prediction, ServedModel
from kfp_mlops.serve.v1 import v1_response

log = logging.getLogger("kfp_mlops.serve")
REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"
WARN_SECONDS = 60.0


def _records(columns: dict, names: tuple[str, ...]) -> list[dict]:
    values = [columns[n] for n in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


class Forwarder:
    """The queue of shadow pairs for the sink, and the thread that posts them."""

    def __init__(self, url: str, served: ServedModel, metrics: Metrics, *,
                 max_pairs: int = 1000, max_bytes: int = 64 << 20,
                 timeout: float = 5.0):  # fmt: skip
        self.url, self.served, self.timeout, self.max_pairs = url, served, timeout, max_pairs
        self.max_bytes, self._bytes = max_bytes, 0
        self.model = (served.registered_name, str(served.version))
        self.names = tuple(served.schema.names)
        self.outcome = {o: metrics.shadow_forward.labels(o) for o in ("sent", "dropped", "failed")}
        self._queue: deque = deque()
        self._cond = threading.Condition(threading.Lock())
        self._stopping = False
        self._warned = -WARN_SECONDS
        self._thread = threading.Thread(target=self._run, name="shadow-log", daemon=True)

    def start(self) -> "Forwarder":
        """Start the posting thread."""
        self._thread.start()
        return self

    def emit(self, request_id: str, when: datetime, answer: Prediction, columns: dict,
             latency: float, nbytes: int = 0) -> None:  # fmt: skip
        """Queue one shadowed request's pair (Shadow's `emit`); dropped and counted when full."""
        with self._cond:
            full = len(self._queue) >= self.max_pairs or self._bytes + nbytes > self.max_bytes
            if self._stopping or full:
                self.outcome["dropped"].inc()
                return
            self._queue.append((request_id, when, answer, columns, latency, nbytes))
            self._bytes += nbytes
            self._cond.notify()

    def close(self, timeout: float = 10.0) -> None:
        """Post what is queued, within `timeout`."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                *item, nbytes = self._queue.popleft()
                self._bytes -= nbytes
            try:
                self._post(*item)
                self.outcome["sent"].inc()
            except Exception as exc:  # the sink is down or refuses: the pair is lost, counted
                self.outcome["failed"].inc()
                now = time.monotonic()
                if now - self._warned >= WARN_SECONDS:
                    self._warned = now
                    log.warning(
                        "shadow log: posting to the sink failed: %s; more are counted in "
                        "kfp_mlops_shadow_log_events_total", redact(exc)[:200],
                    )  # fmt: skip

    def _post(self, request_id: str, when: datetime, answer: Prediction, columns: dict,
              latency: float) -> None:  # fmt: skip
        request = {"instances": _records(columns, self.names)}
        response = v1_response(answer.labels, answer.probabilities, self.served.classes, self.model)
        answered = datetime.fromtimestamp(when.timestamp() + latency, when.tzinfo)
        for kind, body, at in ((REQUEST, request, when), (RESPONSE, response, answered)):
            headers = {
                "Content-Type": "application/json",
                "Ce-Specversion": "1.0",
                "Ce-Id": request_id,
                "Ce-Type": kind,
                "Ce-Source": f"kfp-mlops-shadow/{self.model[0]}",
                "Ce-Time": at.isoformat().replace("+00:00", "Z"),
                "Ce-Endpoint": SHADOW,
            }
            data = json.dumps(body, allow_nan=False).encode()
            sent = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            with urllib.request.urlopen(sent, timeout=self.timeout) as reply:
                reply.read()
