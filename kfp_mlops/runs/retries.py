"""Which failed tasks a local run retries: only those whose error can pass on a second try.

A compiled spec asks for retries with back-off (pipelines/task_settings.py), and kfp.local
honours them for every failure: a missing file, no champion or a wrong labels column failed
three times over 15 s of back-off with the same message. A local run instead retries a task
only when its error is a service or transient one (MLflow or S3 not answering, a timeout, a
refused connection), after the spec's back-off, saying "retrying in N s"; any other failure
ends the task at once. The spec kfp.local loads has its retry policies taken out (it would
retry everything) and this module, around kfp.local's dispatch of one task, applies them.
"""

import io
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

# Errors a second attempt can cure: a service that did not answer, a network that failed.
TRANSIENT = frozenset(
    {
        "ServiceError",
        "ConnectionError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "ConnectionAbortedError",
        "BrokenPipeError",
        "TimeoutError",
        "ConnectTimeout",
        "ConnectTimeoutError",
        "ReadTimeout",
        "ReadTimeoutError",
        "EndpointConnectionError",
        "MaxRetryError",
        "NewConnectionError",
        "RemoteDisconnected",
    }
)
RETRY_LINE = "kfp-mlops retry"  # the run log line _Progress turns into "↻ ... retrying in N s"
# libyaml when PyYAML has it: the spec is read and written again for every run (0.4 s in Python).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_ERROR = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception|Timeout|Disconnected)):? ?(.*)$")


@dataclass(frozen=True)
class Policy:
    """A task's retry policy as the spec gives it."""

    retries: int
    backoff_s: float
    factor: float
    max_s: float

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt + 1` (attempt 0 is the first failure)."""
        return min(self.backoff_s * self.factor**attempt, self.max_s)


def _seconds(value: str | None, default: float) -> float:
    return float(str(value).rstrip("s")) if value else default


def without_retries(spec_path: Path) -> dict[str, Policy]:
    """Take every retry policy out of the spec file; component name → its policy."""
    docs = list(yaml.load_all(spec_path.read_text(), Loader=_LOADER))
    policies = {}
    for component in [docs[0]["root"], *docs[0].get("components", {}).values()]:
        for task in component.get("dag", {}).get("tasks", {}).values():
            raw = task.pop("retryPolicy", None)
            if raw and raw.get("maxRetryCount"):
                policies[task["componentRef"]["name"]] = Policy(
                    retries=int(raw["maxRetryCount"]),
                    backoff_s=_seconds(raw.get("backoffDuration"), 0.0),
                    factor=float(raw.get("backoffFactor") or 2.0),
                    max_s=_seconds(raw.get("backoffMaxDuration"), 3600.0),
                )
    if policies:
        spec_path.write_text(yaml.dump_all(docs, Dumper=_DUMPER, sort_keys=False))
    return policies


def last_error(output: str) -> tuple[str, str] | None:
    """The class and message of the exception a task's output ends with (its last traceback).

    kfp.local indents what a task prints; the exception line has its traceback's indent.
    """
    lines = output.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        head = lines[i].lstrip()
        if head.startswith("Traceback (most recent call last)"):
            indent = lines[i][: len(lines[i]) - len(head)]
            for line in lines[i + 1 :]:
                rest = line.removeprefix(indent)
                if rest[:1].isspace() or not line.startswith(indent):
                    continue
                m = _ERROR.match(rest.strip())
                return (m[1], m[2]) if m else None
            return None
    return None


def can_pass_on_retry(output: str) -> bool:
    """Whether the failure the output shows is a service or transient one."""
    error = last_error(output)
    return error is not None and error[0] in TRANSIENT


class _Tee(io.TextIOBase):
    """Writes through to the run log and keeps, per thread, what the attempt there printed.

    kfp.local runs ParallelFor iterations in worker threads (two at a time in 2.17.3), each
    printing its task's output from its own thread: one process-wide tee, installed once,
    keeps each thread's copy apart (swapping sys.stdout per task raced between threads).
    """

    def __init__(self, out):
        self.out, self.local = out, threading.local()

    def start(self) -> None:
        """Begin keeping what this thread prints."""
        self.local.parts = []

    def stop(self) -> str:
        """What this thread printed since start(); stop keeping it."""
        parts, self.local.parts = getattr(self.local, "parts", None) or [], None
        return "".join(parts)

    def write(self, text: str) -> int:
        parts = getattr(self.local, "parts", None)
        if parts is not None:
            parts.append(text)
        return self.out.write(text)

    def flush(self) -> None:
        self.out.flush()


def install(policies: dict[str, Policy], sleep=time.sleep) -> None:
    """In kfp.local's process: dispatch each task with its policy, retrying transient errors."""
    from kfp.local import status, task_dispatcher

    original = task_dispatcher.run_single_task_implementation
    tee = sys.stdout if isinstance(sys.stdout, _Tee) else _Tee(sys.stdout)
    sys.stdout = tee  # kfp.local prints each task's output line by line, in its thread

    def dispatch(*args, **kwargs):
        name = kwargs.get("component_name", args[1] if len(args) > 1 else "")
        policy = policies.get(name)
        attempt = 0
        while True:
            tee.start()
            try:
                outputs, state = original(*args, **kwargs)
            finally:
                output = tee.stop()
            if state == status.Status.SUCCESS or policy is None or attempt >= policy.retries:
                return outputs, state
            if not can_pass_on_retry(output):
                error = last_error(output)
                said = f"{error[0]} " if error else ""
                print(f"{RETRY_LINE}: not retried: {said}cannot pass on retry", flush=True)
                return outputs, state
            delay = policy.delay(attempt)
            attempt += 1
            print(
                f"{RETRY_LINE}: {last_error(output)[0]}, a service error; retrying in "
                f"{delay:g} s (attempt {attempt + 1} of {policy.retries + 1})",
                flush=True,
            )
            sleep(delay)

    task_dispatcher.run_single_task_implementation = dispatch
