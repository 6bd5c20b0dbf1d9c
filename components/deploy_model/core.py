"""Deploy a registered version on KServe: apply, wait, canary, judge, promote or roll back."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from components._shared.errors import ConfigError
from components._shared.registry.aliases import move_alias, record_kept
from components._shared.registry.approvals import ApprovalError
from components._shared.registry.inputs import check_shadow_fits, registered_face
from components._shared.registry.names import PRODUCTION
from components.deploy_model import render
from components.deploy_model.judge import Thresholds, Verdict, judge
from components.deploy_model.kube import Cluster, KubeError, KubeForbiddenError
from components.deploy_model.registry import (
    NOTHING,
    approval_step,
    resolve_model,
)

CANARY_TAGS = "kfp_mlops.canary"  # prefix of the version tags recording a canary's outcome


@dataclass(frozen=True)
class Request:
    """What to deploy and how (the component's parameters)."""

    target: render.Target  # version 0 and sha256 "" until resolved from the registry
    model_version: str  # a version number or an alias (`champion`, `@champion`)
    canary_traffic_percent: int
    thresholds: Thresholds
    ready_timeout_s: float
    who: str  # the KFP run id: holder of the lease, author of the records
    require_approval: bool = True  # refuse a version not approved (`kfp-mlops approve`)
    shadow_version: str = ""  # a version number or alias to shadow model_version; "" = none


@dataclass(frozen=True)
class Outcome:
    """What happened: the gate bool, the facts for the report and the Metrics artifact."""

    model_name: str
    deployed: bool
    promoted: bool
    version: int
    previous: int | None
    canary: bool
    reasons: list[str]
    verdict: Verdict | None = None
    steps: list[str] = field(default_factory=list)
    shadow: int | None = None  # the version shadowing this one (serve --shadow), if any

    def metadata(self) -> dict:
        """Report metadata (the gate contract: passed, reasons, plus deploy facts)."""
        return {
            "passed": self.promoted,
            "model_name": self.model_name,
            "reasons": self.reasons,
            "deployed": self.deployed,
            "promoted": self.promoted,
            "version": self.version,
            "previous_version": self.previous,
            "canary": self.canary,
            "shadow_version": self.shadow,
        }

    def metrics(self) -> dict[str, float]:
        """Numbers for the Metrics artifact."""
        found = {"promoted": float(self.promoted), "version": float(self.version)}
        for key, value in (self.verdict.numbers if self.verdict else {}).items():
            if value is not None:
                found[f"canary_{key}"] = float(value)
        return found


def deploy_model(
    request: Request,
    cluster_for: Callable[[str], Cluster] = Cluster,
    sleep: Callable[[float], None] = time.sleep,
    observe_s: float = 0.0,
) -> Outcome:
    """Serve a registered version; with a canary, promote or roll back on live metrics.

    Args:
        request: The version, the rendering settings, the canary share and thresholds.
        cluster_for: Builds the Kubernetes client for a namespace.
        sleep: How to wait while live traffic reaches the canary.
        observe_s: Seconds of live traffic before the canary is judged.

    Raises:
        ConfigError: Settings KServe would reject or ignore, an unknown version or alias.
        ModelTrustError: The version has no model_sha256, or its file does not match it.
        ApprovalError: require_approval and the version is not approved, or was rejected.
        KubeError: No cluster, RBAC refused (KubeForbiddenError), or not Ready in time.
    """
    render.check_target(request.target, request.canary_traffic_percent)
    cluster = cluster_for(request.target.namespace)  # no cluster: say so before anything else
    version, sha256, loaded = resolve_model(request.target.model_name, request.model_version)
    target = replace(request.target, version=version, sha256=sha256)
    shadowing = bool(request.shadow_version.strip())
    if shadowing:  # it answers no request: no approval (its live comparison leads to one)
        steps = ["approval: not needed for a shadow (it answers no request)"]
    else:
        steps = [approval_step(target.model_name, version, request.require_approval)]  # or raises
    current = cluster.get(target.service)
    _check_mode(target, current)
    stable = render.stable_version(current)
    if shadowing:
        return _shadow(request, target, cluster, stable, steps, loaded)
    if request.canary_traffic_percent == 0 or stable is None or stable == version:
        cluster.apply(render.direct(target))
        steps.append(f"applied {target.service}: all traffic to v{version}")
        cluster.wait_ready(target.service, request.ready_timeout_s)
        steps.append("Ready")
        why = f"deployed to {target.namespace}/{target.service} with all traffic"
        _promote(target, request, why)
        return Outcome(target.model_name, True, True, version, stable, False, [why], None, steps)
    return _canary(request, target, cluster, current, stable, steps, sleep, observe_s)


def _shadow(request, target, cluster, stable, steps, loaded) -> Outcome:
    """Keep `target.version` on all traffic and add the shadow: no canary, no alias move.

    The shadow predicts the same requests off the request path; its rows go to the log as
    endpoint=shadow for compare_live. The audit trail records the decision (production kept)
    and the shadow version is tagged with where it shadows.
    """
    name = target.model_name
    if stable != target.version:
        serving = f"serves v{stable}" if stable is not None else "does not exist yet"
        raise ConfigError(
            f"shadow_version shadows the version that serves all traffic, but "
            f"{target.namespace}/{target.service} {serving}, not v{target.version}: deploy "
            f"v{target.version} first (shadow_version empty), or set model_version to the "
            f"serving version; {NOTHING}"
        )
    shadow, shadow_sha, shadow_model = resolve_model(name, request.shadow_version)
    if shadow == target.version:
        raise ConfigError(
            f"shadow_version {request.shadow_version!r} is v{shadow}, the version it would "
            f"shadow; give the challenger's version or alias (`challenger`); {NOTHING}"
        )
    # The server's own comparison (names, order, kinds, classes): refused here, no pod
    # crash-loops on it.
    check_shadow_fits(
        registered_face(name, target.version, loaded),
        registered_face(name, shadow, shadow_model),
        f"model {name!r}",
        f"; {NOTHING}",
    )
    target = replace(target, shadow_version=shadow, shadow_sha256=shadow_sha)
    cluster.apply(render.direct(target))
    steps.append(f"applied {target.service}: all traffic to v{target.version}, v{shadow} shadows")
    cluster.wait_ready(target.service, request.ready_timeout_s)
    steps.append("Ready")
    where = f"{target.namespace}/{target.service}"
    why = (
        f"v{shadow} shadows v{target.version} on {where} (predicts the same requests off the "
        "request path, logged as endpoint=shadow); no canary, no alias move"
    )
    record_kept(
        name, PRODUCTION, shadow, who=request.who, why=why,
        state=f"{where} runs the shadow; re-run the step to record it",
        tags={f"{CANARY_TAGS}.shadow": why[:1000]},
    )  # fmt: skip
    return Outcome(
        name, True, True, target.version, stable, False, [why], None, steps, shadow=shadow
    )


def _check_mode(target: render.Target, current: dict | None) -> None:
    if current is None:
        return
    mode = (current["metadata"].get("annotations") or {}).get(render.MODE_ANNOTATION)
    if mode and mode != target.deployment_mode:
        raise ConfigError(
            f"InferenceService {target.namespace}/{target.service} runs in deployment mode "
            f"{mode!r}; KServe cannot switch it to {target.deployment_mode!r}. Deploy with "
            f"deployment_mode={mode!r}, or under another service_name"
        )


def _canary(request, target, cluster, current, stable, steps, sleep, observe_s) -> Outcome:
    percent = request.canary_traffic_percent
    applied, _ = cluster.apply(render.with_canary(target, percent, current))
    steps.append(f"applied {target.service}: {percent} % to v{target.version}, rest v{stable}")
    try:
        cluster.wait_ready(target.service, request.ready_timeout_s)
    except KubeForbiddenError:
        raise
    except KubeError as exc:
        verdict = Verdict(False, [f"the canary never became Ready: {exc}"])
        return _roll_back(request, target, cluster, stable, verdict, steps)
    steps.append("canary Ready")
    if observe_s > 0:
        sleep(observe_s)
    limits = request.thresholds
    verdict = judge(target.namespace, target.service, target.version, limits)
    steps.append(f"judged over {limits.window_s} s: {'; '.join(verdict.reasons)}")
    if not verdict.passed:
        return _roll_back(request, target, cluster, stable, verdict, steps)
    if request.require_approval:  # consent withdrawn during the canary: traffic goes back
        try:
            approval_step(target.model_name, target.version, True, "traffic goes back")
        except ApprovalError as exc:
            return _roll_back(request, target, cluster, stable, Verdict(False, [str(exc)]), steps)
    cluster.patch(target.service, render.promotion_patch(target, applied))
    cluster.wait_ready(target.service, request.ready_timeout_s)
    steps.append(f"promoted: all traffic to v{target.version}")
    why = f"canary {percent} % passed ({'; '.join(verdict.reasons)}); all traffic to it"
    _promote(target, request, why)
    name = target.model_name
    return Outcome(name, True, True, target.version, stable, True, [why], verdict, steps)


def _promote(target: render.Target, request: Request, why: str) -> None:
    tags = {f"{CANARY_TAGS}.promoted": f"{target.namespace}/{target.service}: {why}"[:1000]}
    move_alias(
        target.model_name, PRODUCTION, target.version, who=request.who, why=why,
        state=f"{target.service} serves v{target.version}; `{PRODUCTION}` may not point at it "
        "yet: re-run the step",
        tags=tags, check=_still_approved(target) if request.require_approval else None,
    )  # fmt: skip


def _still_approved(target: render.Target):
    """The check under the lease: a rejection made while the canary ran keeps the alias."""
    state = f"{target.service} serves v{target.version}; `{PRODUCTION}` was not moved to it"
    return lambda: approval_step(target.model_name, target.version, True, state)


def _roll_back(request, target, cluster, stable, verdict, steps) -> Outcome:
    """Traffic back to the stable version, alias unchanged, the reason in the audit trail."""
    cluster.patch(target.service, render.rollback_patch(target, stable))
    cluster.wait_ready(target.service, request.ready_timeout_s)
    steps.append(f"rolled back: all traffic to v{stable}")
    why = f"canary v{target.version} rolled back to v{stable}: {'; '.join(verdict.reasons)}"
    record_kept(
        target.model_name, PRODUCTION, target.version, who=request.who, why=why,
        state="traffic is back on the stable version; re-run the step to record it",
        tags={f"{CANARY_TAGS}.rolled_back": why[:1000]},
    )  # fmt: skip
    name = target.model_name
    return Outcome(name, True, False, target.version, stable, True, [why], verdict, steps)
