"""The canary judge: error rate and p95 latency over a window, against thresholds; fails closed."""

import math
from dataclasses import dataclass, field

from components.deploy_model import prometheus, promql


@dataclass(frozen=True)
class Thresholds:
    """What a canary must stay within; a negative value means "not set" (then no promotion)."""

    max_error_rate: float
    max_p95_latency_ms: float
    min_requests: int
    window_s: int


@dataclass(frozen=True)
class Verdict:
    """Whether the canary passed, why, and the numbers read."""

    passed: bool
    reasons: list[str]
    numbers: dict[str, float | None] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)


def decide(numbers: dict[str, float | None], limits: Thresholds) -> Verdict:
    """The verdict from the numbers read (pure). No data or no threshold is a failure."""
    reasons: list[str] = []
    if limits.max_error_rate < 0 or limits.max_p95_latency_ms < 0:
        reasons.append(
            "no threshold set (max_canary_error_rate and max_canary_p95_latency_ms must be >= 0)"
        )
    requests = numbers.get("requests") or 0.0
    errors = numbers.get("server_errors") or 0.0
    p95_s = numbers.get("p95_seconds")
    error_rate = errors / requests if requests else None
    p95_ms = p95_s * 1000 if p95_s is not None and math.isfinite(p95_s) else None
    if requests < max(1, limits.min_requests):
        reasons.append(
            f"{requests:.0f} prediction requests reached the canary in {limits.window_s} s; "
            f"at least {max(1, limits.min_requests)} are needed to judge it (no data fails)"
        )
    if error_rate is not None and limits.max_error_rate >= 0 and error_rate > limits.max_error_rate:
        reasons.append(f"error rate {error_rate:.4f} > {limits.max_error_rate:.4f}")
    if p95_ms is None and requests:
        reasons.append("no latency histogram for the canary's requests")
    if p95_ms is not None and limits.max_p95_latency_ms >= 0 and p95_ms > limits.max_p95_latency_ms:
        reasons.append(f"p95 latency {p95_ms:.1f} ms > {limits.max_p95_latency_ms:.1f} ms")
    read = {"requests": requests, "error_rate": error_rate, "p95_latency_ms": p95_ms}
    return Verdict(passed=not reasons, reasons=reasons or ["within every threshold"], numbers=read)


def judge(
    namespace: str, service: str, version: int, limits: Thresholds, at: float | None = None
) -> Verdict:
    """Read the canary's numbers from Prometheus (KFP_MLOPS_PROMETHEUS_URL) and decide.

    Raises:
        ServiceError: Prometheus is not configured or does not answer.
    """
    asked = promql.queries(namespace, service, version, limits.window_s)
    numbers = {name: prometheus.scalar(q, at) for name, q in asked.items()}
    verdict = decide(numbers, limits)
    return Verdict(verdict.passed, verdict.reasons, verdict.numbers, asked)
