"""deploy_model end to end: real MLflow and S3, real Prometheus, the fake Kubernetes API server."""

import dataclasses
import json
import os

import pytest
from kfp import dsl

from components._shared.errors import ConfigError
from components._shared.model_io import ModelTrustError
from components.deploy_model import component, render
from components.deploy_model.core import PRODUCTION, Request, deploy_model
from components.deploy_model.judge import Thresholds, judge
from components.deploy_model.kube import DEPLOY_ROLE, KubeError, KubeForbiddenError
from components.deploy_model.prometheus import PROMETHEUS_URL_ENV
from kfp_mlops.model_registry.rollback import alias_history
from tests import test_register_model as registering
from tests.conftest import free_port
from tests.fake_kube_server import FakeKube
from tests.real_prometheus import Canary, RealPrometheus
from tests.test_deploy_render import RESOURCES
from tests.test_register_model import artifacts, client, run, unique

credit = registering.credit  # the fixture
NS = "kubeflow"
FAST, SLOW = 0.008, 0.4  # seconds per request
# Window wide enough to hold the ten backfilled minutes however late in the module a test runs.
LIMITS = Thresholds(max_error_rate=0.05, max_p95_latency_ms=100, min_requests=20, window_s=3600)
CANARIES = [
    Canary(NS, "knative-pass", 2, ok_per_step=40, errors_per_step=0, latency_s=FAST),
    Canary(NS, "standard-pass", 2, ok_per_step=40, errors_per_step=0, latency_s=FAST),
    Canary(NS, "errors-over", 2, ok_per_step=30, errors_per_step=10, latency_s=FAST),
    Canary(NS, "slow", 2, ok_per_step=40, errors_per_step=0, latency_s=SLOW),
    Canary(NS, "knative-pass", 1, ok_per_step=40, errors_per_step=40, latency_s=SLOW),
]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    server = RealPrometheus(tmp_path_factory.mktemp("prometheus"), free_port(), CANARIES).start()
    patch = pytest.MonkeyPatch()
    patch.setenv(PROMETHEUS_URL_ENV, server.url)
    yield server
    patch.undo()
    server.stop()


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    server = FakeKube(delay_s=0.2).start()
    patch = pytest.MonkeyPatch()
    patch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    patch.setenv("KUBECONFIG", server.kubeconfig(tmp_path_factory.mktemp("kube") / "config", NS))
    yield server
    patch.undo()
    server.stop()


@pytest.fixture(autouse=True)
def _reset(fake):
    fake.controller, fake.forbid = "ready", set()


@pytest.fixture(scope="module")
def model(stack, tmp_path_factory, credit):
    """A registered model with versions 1, 2 (good) and 3 (to be tampered with), approved."""
    from components._shared.registry.approvals import decide

    name = unique("deploy")
    folder = tmp_path_factory.mktemp("registered")
    for seed in range(3):
        run(folder, artifacts(folder, credit, seed=seed, model_name=name))
        decide(name, seed + 1, "approve", "release-manager", "reviewed for the deploy tests")
    return name


def request(model, service, version="2", mode=render.SERVERLESS, percent=10, **changes):
    target = render.Target(
        service=service, namespace=NS, model_name=model, version=0, sha256="",
        image="ghcr.io/kfp-mlops/kfp-mlops:0.2.0", service_account="kfp-mlops-predictor",
        deployment_mode=mode, prediction_log=render.KSERVE_LOGGER,
        log_sink_url="http://kfp-mlops-log-sink/", resources=RESOURCES,
    )  # fmt: skip
    base = Request(target, version, percent, LIMITS, ready_timeout_s=30, who="run-deploy-test")
    return dataclasses.replace(base, **changes)


def production(model) -> int | None:
    aliases = client().get_registered_model(model).aliases or {}
    return int(aliases[PRODUCTION]) if PRODUCTION in aliases else None


def serving(fake, service) -> dict:
    return fake.objects[(NS, service)]


def test_judge_reads_the_canary_numbers_from_a_real_prometheus(prometheus):
    good = judge(NS, "knative-pass", 2, LIMITS)
    assert good.passed, good.reasons
    assert good.numbers["requests"] > 1000 and good.numbers["error_rate"] == 0
    assert good.numbers["p95_latency_ms"] <= 10
    errors = judge(NS, "errors-over", 2, LIMITS)
    assert not errors.passed and errors.reasons[0].startswith("error rate 0.25")
    slow = judge(NS, "slow", 2, LIMITS)
    assert not slow.passed and slow.reasons[0].startswith("p95 latency 4")
    nothing = judge(NS, "no-data", 2, LIMITS)
    assert not nothing.passed and "at least 20 are needed" in nothing.reasons[0]


def test_first_deploy_serves_all_traffic_and_moves_production(fake, model):
    outcome = deploy_model(request(model, "first", version="1"))
    assert outcome.deployed and outcome.promoted and not outcome.canary
    obj = serving(fake, "first")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert obj["metadata"]["annotations"][render.STABLE_VERSION_KEY] == "1"
    assert production(model) == 1
    moves = [m for m in alias_history(model) if m["alias"] == PRODUCTION]
    assert moves[-1]["version"] == 1 and moves[-1]["who"] == "run-deploy-test"


def _deploy_stable_then_canary(fake, model, service, mode, **changes):
    deploy_model(request(model, service, version="1", mode=mode))
    return deploy_model(request(model, service, version="2", mode=mode, **changes))


def test_knative_canary_within_thresholds_is_promoted(fake, model, prometheus):
    outcome = _deploy_stable_then_canary(fake, model, "knative-pass", render.SERVERLESS)
    assert outcome.canary and outcome.promoted, outcome.reasons
    predictor = serving(fake, "knative-pass")["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert predictor["labels"][render.MODEL_VERSION_KEY] == "2"
    assert production(model) == 2
    assert any("canary 10 % passed" in m["why"] for m in alias_history(model))


def test_a_version_rejected_during_its_canary_never_gets_all_traffic(
    stack, fake, prometheus, tmp_path, credit
):
    from components._shared.registry.approvals import decide

    name = unique("rejected")
    for seed in range(2):
        run(tmp_path, artifacts(tmp_path, credit, seed=seed, model_name=name))
        decide(name, seed + 1, "approve", "release-manager", "reviewed")
    deploy_model(request(name, "knative-pass", version="1", percent=0))

    def reject_meanwhile(_seconds):  # someone withdraws consent while the canary serves
        decide(name, 2, "reject", "release-manager", "a complaint came in")

    outcome = deploy_model(
        request(name, "knative-pass", version="2"), sleep=reject_meanwhile, observe_s=1
    )
    assert outcome.canary and not outcome.promoted
    assert "rejected" in outcome.reasons[0] and production(name) == 1
    assert serving(fake, "knative-pass")["spec"]["predictor"]["canaryTrafficPercent"] == 0


def test_standard_canary_within_thresholds_is_promoted(fake, model, prometheus):
    outcome = _deploy_stable_then_canary(
        fake, model, "standard-pass", render.STANDARD, canary_traffic_percent=5
    )
    assert outcome.promoted, outcome.reasons
    spec = serving(fake, "standard-pass")["spec"]
    assert spec["predictor"]["name"] == "v2" and "canary" not in spec
    applied = [r for r in fake.requests if r[0] == "PATCH" and r[1].endswith("/standard-pass")]
    assert len(applied) >= 2  # the canary, then the promotion
    assert production(model) == 2


@pytest.mark.parametrize(
    ("service", "mode", "reason"),
    [
        ("errors-over", render.SERVERLESS, "error rate 0.25"),
        ("slow", render.STANDARD, "p95 latency"),
        ("no-data", render.SERVERLESS, "needed to judge it"),
    ],
)
def test_canary_judged_bad_rolls_back_with_alias_unchanged_and_reason_recorded(
    fake, model, prometheus, service, mode, reason
):
    deploy_model(request(model, service, version="1", mode=mode))
    before = production(model)
    deploy_model(request(model, service, version="1", mode=mode))  # already serving: no-op
    outcome = _deploy_stable_then_canary(fake, model, service, mode)
    assert outcome.canary and not outcome.promoted
    assert reason in outcome.reasons[0]
    assert production(model) == before
    obj = serving(fake, service)
    assert obj["metadata"]["annotations"][render.STABLE_VERSION_KEY] == "1"
    if mode == render.SERVERLESS:
        assert obj["spec"]["predictor"]["canaryTrafficPercent"] == 0
    else:
        assert "canary" not in obj["spec"] and obj["spec"]["predictor"]["name"] == "v1"
    record = alias_history(model)[-1]
    assert record["alias"] == PRODUCTION and record["version"] == record["from_version"] == before
    assert record["why"].startswith("canary v2 rolled back to v1") and reason in record["why"]
    tags = client().get_model_version(model, "2").tags
    assert reason in tags["kfp_mlops.canary.rolled_back"]


def test_canary_that_never_becomes_ready_is_rolled_back(fake, model, prometheus):
    deploy_model(request(model, "canary-fails", version="1"))
    before = production(model)
    fake.controller = "canary-fails"
    outcome = deploy_model(request(model, "canary-fails", version="2", ready_timeout_s=3))
    assert not outcome.promoted and "the canary never became Ready" in outcome.reasons[0]
    assert "RevisionFailed" in outcome.reasons[0]
    assert serving(fake, "canary-fails")["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert production(model) == before


def test_first_deploy_never_ready_fails_the_step_and_moves_nothing(fake, model):
    before = production(model)
    fake.controller = "never"
    with pytest.raises(
        KubeError, match=r"kubeflow/never .*was not Ready after 2 s.*RevisionFailed"
    ):
        deploy_model(request(model, "never", version="1", ready_timeout_s=2))
    assert production(model) == before


def test_rbac_refusal_fails_naming_the_role_and_moves_nothing(fake, model):
    before = production(model)
    fake.forbid = {"create"}
    with pytest.raises(KubeForbiddenError, match=f"apply the Role {DEPLOY_ROLE}"):
        deploy_model(request(model, "refused", version="1"))
    assert (NS, "refused") not in fake.objects and production(model) == before


def test_raw_deployment_with_canary_percent_is_refused_before_anything(fake, model):
    with pytest.raises(ConfigError, match="KServe ignores canaryTrafficPercent"):
        deploy_model(request(model, "raw", mode=render.RAW, percent=10))
    assert (NS, "raw") not in fake.objects


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("99", r"models:/deploy-\w+/99 does not exist"),
        ("staging", r"has no alias 'staging'; give a version number or one of its aliases"),
    ],
)
def test_unknown_version_or_alias_is_refused(fake, model, version, message):
    with pytest.raises(ConfigError, match=message):
        deploy_model(request(model, "unknown", version=version))
    assert (NS, "unknown") not in fake.objects


def test_unknown_model_is_refused(fake, stack):
    with pytest.raises(ConfigError, match="no registered model 'no-such-model'"):
        deploy_model(request("no-such-model", "unknown-model", version="1"))


def test_version_whose_file_does_not_match_its_sha_is_refused(fake, model):
    mlflow = client()
    real = mlflow.get_model_version(model, "3").tags["model_sha256"]
    mlflow.set_model_version_tag(model, "3", "model_sha256", "0" * 64)
    try:
        with pytest.raises(ModelTrustError, match="sha256"):
            deploy_model(request(model, "tampered", version="3"))
        mlflow.delete_model_version_tag(model, "3", "model_sha256")
        with pytest.raises(ModelTrustError, match="has no model_sha256 tag"):
            deploy_model(request(model, "tampered", version="3"))
    finally:
        mlflow.set_model_version_tag(model, "3", "model_sha256", real)
    assert (NS, "tampered") not in fake.objects


def test_component_writes_the_gate_bool_report_and_metrics(fake, model, tmp_path):
    metrics = dsl.Metrics(uri=str(tmp_path / "metrics"))
    report = dsl.Markdown(uri=str(tmp_path / "report.md"))
    promoted = component.deploy_model.python_func(
        model_name=model, model_version="1", service_name="from-component", namespace="",
        deployment_mode=render.STANDARD, canary_traffic_percent=0, canary_observe_s=0.0,
        canary_window_s=300, max_canary_error_rate=0.01, max_canary_p95_latency_ms=100.0,
        min_canary_requests=20, ready_timeout_s=30.0, prediction_log=render.BUILTIN_LOG,
        log_sink_url="", service_account="kfp-mlops-predictor", cpu_request="250m",
        cpu_limit="1", memory_request="512Mi", memory_limit="1Gi", min_replicas=1,
        auth_token_secret="", shadow_version="", kfp_run_id="run-component", metrics=metrics,
        report=report, require_approval=True,
    )  # fmt: skip
    assert promoted is True
    assert report.metadata["passed"] is True and report.metadata["version"] == 1
    assert report.metadata["model_name"] == model
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Deploy: PASSED") and "kubeflow/from-component" in text
    assert metrics.metadata["promoted"] == 1.0
    from components._shared.verdicts.gate_records import read_gate_records

    (record,) = read_gate_records("run-component")  # the verdict, for the run's notification
    assert (record.gate, record.passed, record.model) == ("deploy", True, model)
    assert record.line.startswith("v1 promoted to all traffic; deployed to ")
    obj = serving(fake, "from-component")  # namespace "" = the kubeconfig context's
    assert obj["metadata"]["namespace"] == NS
    assert "--no-log" not in obj["spec"]["predictor"]["containers"][0]["args"]
    # Credentials by reference only: the stack's own keys never reach the rendered object.
    rendered = json.dumps(obj)
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in rendered
    assert os.environ["AWS_ACCESS_KEY_ID"] not in rendered


def test_shadow_keeps_the_serving_version_on_all_traffic_and_is_recorded(fake, model):
    deploy_model(request(model, "shadowed", version="1", percent=0))
    before = production(model)
    outcome = deploy_model(request(model, "shadowed", version="1", shadow_version="2"))
    assert outcome.shadow == 2 and outcome.version == 1 and not outcome.canary
    assert outcome.metadata()["shadow_version"] == 2
    args = serving(fake, "shadowed")["spec"]["predictor"]["containers"][0]["args"]
    sha = client().get_model_version(model, "2").tags["model_sha256"]
    assert args[args.index("--shadow") :][:4] == [
        "--shadow", f"models:/{model}/2", "--shadow-sha256", sha
    ]  # fmt: skip
    assert args[args.index("--shadow-log-url") + 1] == "http://kfp-mlops-log-sink/"
    assert production(model) == before == 1  # no alias moves for a shadow
    record = alias_history(model)[-1]
    assert record["alias"] == PRODUCTION and record["version"] == record["from_version"] == 1
    assert record["why"].startswith("v2 shadows v1 on kubeflow/shadowed")
    assert "v2 shadows v1" in client().get_model_version(model, "2").tags["kfp_mlops.canary.shadow"]
    # Deploying the serving version again without shadow_version removes the shadow.
    deploy_model(request(model, "shadowed", version="1", percent=0))
    args = serving(fake, "shadowed")["spec"]["predictor"]["containers"][0]["args"]
    assert "--shadow" not in args and production(model) == 1


@pytest.mark.parametrize(
    ("serving_version", "shadow", "message"),
    [
        (None, "2", r"does not exist yet, not v1: deploy v1 first \(shadow_version empty\)"),
        ("2", "3", r"serves v2, not v1: deploy v1 first"),
        ("1", "1", r"shadow_version '1' is v1, the version it would shadow"),
        ("1", "9", r"models:/deploy-\w+/9 does not exist"),
    ],
)
def test_shadow_that_cannot_be_added_is_refused_before_anything(
    fake, model, serving_version, shadow, message
):
    service = f"no-shadow-{serving_version or 0}-{shadow}"
    if serving_version:
        deploy_model(request(model, service, version=serving_version, percent=0))
    before = json.dumps(fake.objects.get((NS, service)))
    with pytest.raises(ConfigError, match=message):
        deploy_model(request(model, service, version="1", shadow_version=shadow))
    assert json.dumps(fake.objects.get((NS, service))) == before  # nothing applied


def test_shadow_with_another_input_kind_is_refused_naming_the_column_and_both_kinds(
    stack, fake, credit, tmp_path
):
    """The server refuses a shadow whose inputs differ in kind: deploy refuses it first."""
    from components._shared.registry.approvals import decide

    name = unique("kinds")
    run(tmp_path, artifacts(tmp_path, credit, model_name=name))  # v1: age is an integer
    decide(name, 1, "approve", "release-manager", "reviewed for the shadow kind test")
    floats = credit.astype({"age": "float64"})
    run(tmp_path, artifacts(tmp_path, floats, seed=1, model_name=name, promote=False))  # v2
    deploy_model(request(name, "kinds", version="1", percent=0))
    before = json.dumps(serving(fake, "kinds"))
    with pytest.raises(ConfigError, match=r"v2.* differs .*v1.* in age: integer vs double"):
        deploy_model(request(name, "kinds", version="1", shadow_version="2"))
    assert json.dumps(serving(fake, "kinds")) == before  # nothing applied


def test_shadow_with_other_inputs_or_classes_is_refused_naming_both():
    from components._shared.registry.inputs import Face, check_shadow_fits

    inputs = (("age", "integer"), ("amount", "integer"))
    primary = Face(1, inputs, ("0", "1"))
    check_shadow_fits(primary, Face(2, inputs, ("0", "1")), "model 'm'")  # fits
    cases = [
        (Face(2, (("age", "integer"), ("sum", "integer")), ("0", "1")),
         r"model 'm': shadow v2's input schema differs from the primary's \(v1\) in amount: "
         r"integer vs absent, sum: absent vs integer \(primary vs shadow\)"),
        (Face(2, (("age", "double"), ("amount", "integer")), ("0", "1")),
         r"in age: integer vs double \(primary"),
        (Face(2, inputs[::-1], ("0", "1")),
         r"in column order: \['age', 'amount'\] vs \['amount', 'age'\]"),
        (Face(3, inputs, ("bad", "good")),
         r"shadow v3 predicts classes \['bad', 'good'\], the primary \(v1\) \['0', '1'\]"),
        (Face(3, inputs, ("1", "0")), r"predicts classes \['1', '0'\].*in the same order"),
    ]  # fmt: skip
    for shadow, said in cases:
        with pytest.raises(ConfigError, match=said + r".*; nothing was deployed$"):
            check_shadow_fits(primary, shadow, "model 'm'", "; nothing was deployed")


def test_run_local_deploy_without_a_cluster_says_how_to_configure_one(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    code, out, _ = cli("run-local", "deploy", "-p", "model_version=1", "--output", "json")
    summary = json.loads(out)
    assert code == 1 and summary["status"] == "failed" and summary["blessed"] is None
    assert summary["error"].startswith("KubeError: no Kubernetes cluster is configured")
    assert "set KUBECONFIG" in summary["error"] and summary["failed_task"] == "deploy-model"


def test_rolling_back_by_hand_is_a_deploy_of_the_previous_version_without_canary(fake, model):
    deploy_model(request(model, "by-hand", version="2", percent=0))
    assert production(model) == 2
    outcome = deploy_model(request(model, "by-hand", version="1", percent=0))
    assert outcome.promoted and not outcome.canary and production(model) == 1
    predictor = serving(fake, "by-hand")["spec"]["predictor"]
    assert predictor["labels"][render.MODEL_VERSION_KEY] == "1"
    assert "canaryTrafficPercent" not in predictor
    assert alias_history(model)[-1] | {"time": None} == {
        "action": "move", "alias": PRODUCTION, "version": 1, "from_version": 2, "time": None,
        "who": "run-deploy-test", "why": "deployed to kubeflow/by-hand with all traffic",
        "evidence": None,
    }  # fmt: skip


def test_run_local_deploy_runs_the_compiled_spec_against_the_cluster(cli, fake, model):
    code, out, _ = cli(
        "run-local", "deploy", "-p", f"model_name={model}", "-p", "model_version=1",
        "-p", "service_name=run-local", "-p", "canary_traffic_percent=0", "--output", "json",
    )  # fmt: skip
    summary = json.loads(out)
    assert code == 0 and summary["status"] == "succeeded" and summary["blessed"] is True
    assert summary["model"] == {
        "name": model, "version": 1, "aliases": [PRODUCTION], "promoted": True,
        "reason": "deployed to kubeflow/run-local with all traffic",
    }  # fmt: skip
    assert summary["gates"]["deploy"]["passed"] is True
    assert serving(fake, "run-local")["metadata"]["annotations"][render.STABLE_VERSION_KEY] == "1"
