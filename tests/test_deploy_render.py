"""deploy_model offline: every rendered InferenceService is schema-valid; bad settings refused."""

import dataclasses

import pytest

from components._shared.errors import ConfigError
from components.deploy_model import promql, render
from components.deploy_model.judge import Thresholds, decide
from components.deploy_model.kube import readiness
from tests.fake_kube_server import merge_patch
from tests.kserve_schema import problems

RESOURCES = {
    "requests": {"cpu": "250m", "memory": "512Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}


def target(mode: str = render.SERVERLESS, log: str = render.KSERVE_LOGGER, version: int = 2):
    return render.Target(
        service="german-credit", namespace="kubeflow", model_name="german-credit",
        version=version, sha256="ab" * 32, image="ghcr.io/kfp-mlops/kfp-mlops:0.2.0",
        service_account="kfp-mlops-predictor", deployment_mode=mode, prediction_log=log,
        log_sink_url="http://kfp-mlops-log-sink/", resources=RESOURCES,
    )  # fmt: skip


def rendered_variants():
    """Every shape rendered: each mode and log mode; direct, canary, promoted, rolled back."""
    for mode in render.MODES:
        for log in render.LOG_MODES:
            stable = render.direct(target(mode, log, version=1))
            yield f"{mode}-{log}-direct", stable
            shadowed = dataclasses.replace(
                target(mode, log, 1), shadow_version=2, shadow_sha256="cd" * 32
            )
            yield f"{mode}-{log}-shadow", render.direct(shadowed)
            if mode == render.RAW:
                continue
            new = target(mode, log, version=2)
            canary = render.with_canary(new, 10, stable)
            yield f"{mode}-{log}-canary", canary
            yield f"{mode}-{log}-promoted", merge_patch(canary, render.promotion_patch(new, canary))
            yield f"{mode}-{log}-rolled-back", merge_patch(canary, render.rollback_patch(new, 1))


VARIANTS = dict(rendered_variants())


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_rendered_inference_service_is_valid_against_the_strict_crd_schema(name):
    assert problems(VARIANTS[name]) == []


def test_the_strict_schema_rejects_a_misspelled_field_and_a_wrong_type():
    bad = render.direct(target())
    bad["spec"]["predictor"]["minReplica"] = 1
    bad["spec"]["predictor"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    found = {(kind, field) for kind, field, _ in problems(bad)}
    assert ("unknown", "spec.predictor.minReplica") in found
    assert ("invalid", "spec.predictor.containers[0].ports[0].containerPort") in found


def test_predictor_runs_the_project_server_on_8080_with_scrape_annotations_and_model_facts():
    predictor = render.direct(target())["spec"]["predictor"]
    container = predictor["containers"][0]
    assert container["command"] == ["kfp-mlops"]
    assert container["args"][:6] == [
        "serve", "models:/german-credit/2", "--host", "0.0.0.0", "--port", "8080",
    ]  # fmt: skip
    assert predictor["annotations"]["prometheus.io/scrape"] == "true"
    assert predictor["annotations"]["prometheus.io/port"] == "8080"
    assert predictor["annotations"]["prometheus.io/path"] == "/metrics"
    assert predictor["labels"][render.MODEL_VERSION_KEY] == "2"
    env = {e["name"]: e for e in container["env"]}
    assert env["KFP_MLOPS_MODEL_SHA256"]["value"] == "ab" * 32
    # Credentials by reference only: no value of a secret is ever rendered.
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "name": "AWS_SECRET_ACCESS_KEY",
        "valueFrom": {
            "secretKeyRef": {"name": render.READONLY_SECRET, "key": "AWS_SECRET_ACCESS_KEY"}
        },
    }
    assert predictor["serviceAccountName"] == "kfp-mlops-predictor"
    assert container["resources"] == RESOURCES


def test_payload_logger_or_builtin_log_never_both():
    logger = render.direct(target(log=render.KSERVE_LOGGER))["spec"]["predictor"]
    assert logger["logger"] == {"mode": "all", "url": "http://kfp-mlops-log-sink/"}
    assert "--no-log" in logger["containers"][0]["args"]
    builtin = render.direct(target(log=render.BUILTIN_LOG))["spec"]["predictor"]
    assert "logger" not in builtin and "--no-log" not in builtin["containers"][0]["args"]


def test_predictor_is_read_only_on_s3_unless_it_writes_the_prediction_log_itself():
    def secrets(log: str) -> set[str]:
        container = render.direct(target(log=log))["spec"]["predictor"]["containers"][0]
        refs = [e["valueFrom"].get("secretKeyRef") for e in container["env"] if "valueFrom" in e]
        return {ref["name"] for ref in refs if ref}

    assert secrets(render.KSERVE_LOGGER) == secrets(render.NO_LOG) == {render.READONLY_SECRET}
    assert secrets(render.BUILTIN_LOG) == {render.WRITER_SECRET}
    off = render.direct(target(log=render.NO_LOG))["spec"]["predictor"]
    assert "logger" not in off and "--no-log" in off["containers"][0]["args"]


def test_knative_canary_sets_percent_on_the_new_predictor():
    stable = render.direct(target(version=1))
    canary = render.with_canary(target(version=2), 10, stable)
    assert canary["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert canary["spec"]["predictor"]["labels"][render.MODEL_VERSION_KEY] == "2"
    assert canary["metadata"]["annotations"][render.STABLE_VERSION_KEY] == "1"
    promoted = merge_patch(canary, render.promotion_patch(target(version=2), canary))
    assert "canaryTrafficPercent" not in promoted["spec"]["predictor"]
    rolled = merge_patch(canary, render.rollback_patch(target(version=2), 1))
    assert rolled["spec"]["predictor"]["canaryTrafficPercent"] == 0


def test_standard_canary_keeps_the_stable_predictor_and_adds_a_named_canary():
    stable = render.direct(target(render.STANDARD, version=1))
    canary = render.with_canary(target(render.STANDARD, version=2), 5, stable)
    assert canary["metadata"]["annotations"][render.MODE_ANNOTATION] == "Standard"
    assert canary["spec"]["predictor"]["name"] == "v1"
    assert canary["spec"]["canary"][0]["trafficPercent"] == 5
    assert canary["spec"]["canary"][0]["predictor"]["name"] == "v2"
    promoted = merge_patch(
        canary, render.promotion_patch(target(render.STANDARD, version=2), canary)
    )
    assert promoted["spec"]["predictor"]["name"] == "v2" and "canary" not in promoted["spec"]
    rolled = merge_patch(canary, render.rollback_patch(target(render.STANDARD, version=2), 1))
    assert rolled["spec"]["predictor"]["name"] == "v1" and "canary" not in rolled["spec"]


def test_raw_deployment_with_a_canary_percent_is_refused_naming_the_modes_that_work():
    with pytest.raises(
        ConfigError, match=r"KServe ignores canaryTrafficPercent.*'Standard'.*'Serverless'"
    ):
        render.check_target(target(render.RAW), 10)
    render.check_target(target(render.RAW), 0)  # without a canary it is fine


@pytest.mark.parametrize(
    ("change", "percent", "message"),
    [
        ({"service": "German_Credit"}, 0, "not a DNS label"),
        ({"deployment_mode": "Knative"}, 0, r"unknown deployment_mode 'Knative'; expected one of"),
        ({"prediction_log": "s3"}, 0, "unknown prediction_log"),
        ({"log_sink_url": ""}, 0, "needs log_sink_url"),
        (
            {"resources": {"requests": {"cpu": "lots", "memory": "1Gi"}}},
            0,
            "not a Kubernetes quantity",
        ),
        ({}, 100, "outside 0..99"),
    ],
)
def test_bad_deploy_settings_are_refused_naming_the_way_out(change, percent, message):
    with pytest.raises(ConfigError, match=message):
        render.check_target(dataclasses.replace(target(), **change), percent)


def test_readiness_of_an_older_generation_is_not_ready():
    obj = {
        "metadata": {"generation": 3},
        "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]},
    }
    assert not readiness(obj).ready
    assert "not observed the latest generation" in readiness(obj).describe()
    obj["status"]["observedGeneration"] = 3
    assert readiness(obj).ready


LIMITS = Thresholds(max_error_rate=0.05, max_p95_latency_ms=100, min_requests=10, window_s=300)


def test_judge_passes_a_canary_within_every_threshold():
    verdict = decide({"requests": 400.0, "server_errors": 4.0, "p95_seconds": 0.02}, LIMITS)
    assert verdict.passed and verdict.numbers["error_rate"] == 0.01


@pytest.mark.parametrize(
    ("numbers", "reason"),
    [
        (
            {"requests": 400.0, "server_errors": 40.0, "p95_seconds": 0.02},
            "error rate 0.1000 > 0.0500",
        ),
        (
            {"requests": 400.0, "server_errors": 0.0, "p95_seconds": 0.3},
            "p95 latency 300.0 ms > 100.0 ms",
        ),
        ({"requests": None, "server_errors": None, "p95_seconds": None}, "at least 10 are needed"),
        (
            {"requests": 400.0, "server_errors": 0.0, "p95_seconds": float("nan")},
            "no latency histogram",
        ),
    ],
)
def test_judge_fails_a_canary_over_a_threshold_or_without_data(numbers, reason):
    verdict = decide(numbers, LIMITS)
    assert not verdict.passed and any(reason in r for r in verdict.reasons), verdict.reasons


def test_judge_without_thresholds_fails_closed():
    unset = dataclasses.replace(LIMITS, max_error_rate=-1.0)
    verdict = decide({"requests": 400.0, "server_errors": 0.0, "p95_seconds": 0.01}, unset)
    assert not verdict.passed and "no threshold set" in verdict.reasons[0]


def test_promql_selects_one_version_of_one_service_on_prediction_routes_only():
    asked = promql.queries("kubeflow", "german-credit", 7, 300)
    for query in asked.values():
        assert 'serving_kserve_io_inferenceservice="german-credit"' in query
        assert 'kfp_mlops_model_version="7"' in query and 'namespace="kubeflow"' in query
        assert "[300s]" in query and 'route=~".*(:predict|/infer)"' in query
    assert 'status=~"5.."' in asked["server_errors"]
    assert asked["p95_seconds"].startswith("histogram_quantile(0.95, sum by (le)")
