"""notify, the exit task of every pipeline: its message, its posting, and real runs.

Pure message building per final status; posting to a real HTTP receiver on 127.0.0.1 that
answers 200, 500 then 200, always 500, 429 with Retry-After, never, or 404; the webhook's
token never printed; the pipeline-end metrics on a real Pushgateway; and through kfp.local:
a blessed training run and a run whose load fails both end with one notification.
"""

import json
import time
from pathlib import Path

import pytest
import yaml

from components._shared.verdicts.gate_records import GateRecord, write_gate_record
from components.notify import core
from components.notify.announce import announce
from components.notify.core import Verdict, build_notification, payload, text_lines
from components.notify.failed import failed_from_status, spec_steps, stalled_steps
from components.notify.send import host_of, post_json
from pipelines.descriptors import PIPELINES
from tests.conftest import GATED_MODEL, REPO
from tests.real_pushgateway import SilentPeer
from tests.webhook_receiver import TOKEN, WebhookReceiver

OK = {"validation": True, "evaluation": True, "fairness": True}


def verdicts(**passed: bool) -> list[Verdict]:
    return [Verdict(g, p, f"{g} line") for g, p in passed.items()]


# --- the message, per final status -----------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "pipeline", "gates", "status", "blessed"),
    [
        ("SUCCEEDED", "training", verdicts(**OK), core.BLESSED, True),
        ("SUCCEEDED", "training", verdicts(**{**OK, "fairness": False}), core.REJECTED, False),
        ("SUCCEEDED", "monitoring", verdicts(drift=True), core.NO_DRIFT, None),
        ("SUCCEEDED", "monitoring", verdicts(drift=False, **OK), core.BLESSED, True),
        ("SUCCEEDED", "monitoring", verdicts(drift=False, evaluation=False), core.REJECTED, False),
        ("SUCCEEDED", "deploy", verdicts(deploy=True), core.BLESSED, True),
        ("SUCCEEDED", "deploy", verdicts(deploy=False), core.REJECTED, False),
        ("SUCCEEDED", "training", [], core.SUCCEEDED_PLAIN, None),
        ("FAILED", "training", verdicts(validation=True), core.FAILED, None),
        ("CANCELLED", "training", [], core.FAILED, None),
    ],
)
def test_final_status_from_state_and_gate_verdicts(state, pipeline, gates, status, blessed):
    note = build_notification(
        state=state, pipeline=pipeline, model="m", run_id="r1", gates=gates, local=True
    )
    assert note.status == status and note.blessed is blessed
    assert note.succeeded is (status != core.FAILED)
    lines = text_lines(note)
    assert lines[0].endswith(f"{pipeline} (m): {status}") or "failed" in lines[0]
    assert [line for line in lines if line.endswith(" line")] == [
        f"{'✓' if g.passed else '✗'} {g.gate}: {g.gate} line" for g in gates
    ]
    assert lines[-1] == "local run r1"


def test_failed_message_names_the_task_and_the_error():
    note = build_notification(
        state="FAILED", pipeline="training", model="m", run_id="r1", gates=[],
        failed_task="snapshot data", error="DataError: no such file",
    )  # fmt: skip
    lines = text_lines(note)
    assert lines[0] == "❌ training (m): failed at snapshot data"
    assert lines[1] == "error: DataError: no such file"
    unknown = build_notification(state="FAILED", pipeline="t", model="m", run_id="r", gates=[])
    assert "failed task not reported" in text_lines(unknown)[0]
    assert unknown.error == "KFP state FAILED; the error itself is in the failed task's log"


@pytest.mark.parametrize(
    ("ui_url", "local", "url", "ref"),
    [
        ("https://kf.example.com/p/", False, "https://kf.example.com/p/#/runs/details/r9", None),
        ("", False, "", "run r9 (set KFP_MLOPS_UI_URL for a link)"),
        ("https://kf.example.com", True, "", "local run r9"),  # a local run has no UI page
    ],
)  # fmt: skip
def test_run_link_is_the_ui_page_or_the_run_id(ui_url, local, url, ref):
    note = build_notification(
        state="SUCCEEDED", pipeline="training", model="m", run_id="r9", gates=[],
        ui_url=ui_url, local=local,
    )  # fmt: skip
    assert note.run_url == url and note.run_ref == (ref or url)


def test_slack_payload_escapes_markup_and_json_payload_carries_the_facts():
    gates = [Verdict("fairness", False, "gap <0.2> & more")]
    note = build_notification(
        state="SUCCEEDED", pipeline="training", model="m", run_id="r1", gates=gates,
        ui_url="https://kf.example.com",
    )  # fmt: skip
    slack = payload(note, "slack")
    assert slack["text"] == "⛔ training (m): completed, rejected"
    body = slack["blocks"][1]["text"]["text"]
    assert "gap &lt;0.2&gt; &amp; more" in body and "<0.2>" not in body
    assert slack["blocks"][2]["elements"][0]["text"].startswith("<https://kf.example.com/#/")
    plain = payload(note, "json")
    assert plain["status"] == "completed, rejected" and plain["blessed"] is False
    assert plain["gates"] == [{"gate": "fairness", "passed": False, "line": "gap <0.2> & more"}]
    assert plain["run_url"] == "https://kf.example.com/#/runs/details/r1"
    with pytest.raises(ValueError, match=r"unknown message_format 'xml'; expected one of"):
        payload(note, "xml")


# --- which task failed -----------------------------------------------------------------------


def _steps(name):
    return spec_steps(next(yaml.safe_load_all(PIPELINES[name].compiled_path.read_text())))


@pytest.mark.parametrize(
    ("completed", "failed"),
    [
        (set(), ["snapshot data"]),
        ({"load-data"}, ["validate data"]),
        ({"load-data", "validate-data"}, ["train model"]),
        ({"load-data", "validate-data", "train-model", "check-fairness"}, ["evaluate model"]),
        # Both wait for training only: either may be the one (spec order).
        ({"load-data", "validate-data", "train-model"}, ["check fairness", "evaluate model"]),
        (
            {"load-data", "validate-data", "train-model", "check-fairness", "evaluate-model"},
            ["register model"],
        ),
    ],
)
def test_failed_task_is_the_one_that_did_not_complete_after_its_inputs(completed, failed):
    assert stalled_steps(_steps("training"), completed, "notify") == failed


def test_failed_task_in_monitoring_retrain_by_its_local_folder_name():
    body = {"resolve-reference", "load-data", "load-data-2", "detect-drift"}
    assert stalled_steps(_steps("monitoring"), body, "notify") == ["check live performance"]
    body.add("check-performance")
    assert stalled_steps(_steps("monitoring"), body, "notify") == ["build training set"]
    body.add("build-training-set")
    assert stalled_steps(_steps("monitoring"), body, "notify") == ["check novelty"]
    body.add("check-novelty")
    assert stalled_steps(_steps("monitoring"), body, "notify") == ["snapshot data"]  # retrain's
    assert stalled_steps(_steps("monitoring"), {"resolve-reference"}, "notify") == [
        "snapshot reference",
        "snapshot current",
    ]


def test_failed_task_in_sharded_drift_skips_the_branches_not_taken():
    loaded = {"resolve-reference", "load-data", "load-data-2"}
    # A shard failed: the loop's task is named, not the one-pod step or the later gates.
    planned = loaded | {"plan-drift-shards"}
    assert stalled_steps(_steps("monitoring"), planned, "notify") == ["count drift shard"]
    # The sharded reduce ran: the next gate stalled, not the untaken one-pod or S3 branches.
    merged = planned | {"drift-shard", "merge-drift-states"}
    assert stalled_steps(_steps("monitoring"), merged, "notify") == ["check live performance"]


def test_status_names_a_task_only_when_it_is_not_the_exit_group():
    assert failed_from_status("Task exit-handler-1 failed.", "exit-handler-1") == ""
    assert failed_from_status("task 'load-data' failed: x", "exit-handler-1") == "load-data"
    assert failed_from_status("", "exit-handler-1") == ""


# --- posting to a real receiver --------------------------------------------------------------


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


class Pauses(list):
    def __call__(self, seconds):
        self.append(seconds)


def test_post_200_first_attempt(receiver):
    result = post_json(receiver.url(), {"text": "hi"}, sleep=Pauses())
    assert result.sent and result.attempts == 1 and result.status == 200
    assert receiver.requests[0]["body"] == {"text": "hi"}
    assert TOKEN not in result.detail and "127.0.0.1" in result.detail


def test_post_500_then_200_retries_with_backoff(receiver):
    receiver.script((500, {}, "busy"), (502, {}, "busy"))
    pauses = Pauses()
    result = post_json(receiver.url(), {"a": 1}, backoff_s=0.5, sleep=pauses)
    assert result.sent and result.attempts == 3 and len(receiver.requests) == 3
    assert pauses == [0.5, 1.0]  # exponential


def test_post_always_500_gives_up_with_a_warning_detail(receiver):
    receiver.script(*[(500, {}, "down")] * 10)
    result = post_json(receiver.url(), {"a": 1}, attempts=4, sleep=Pauses())
    assert not result.sent and result.attempts == 4 and len(receiver.requests) == 4
    assert result.status == 500
    assert (
        result.detail == "not delivered (HTTP 500 from 127.0.0.1: down): gave up after 4 attempts"
    )


def test_post_429_waits_retry_after_capped(receiver):
    receiver.script((429, {"Retry-After": "7"}, "slow down"), (429, {"Retry-After": "999"}, ""))
    pauses = Pauses()
    result = post_json(receiver.url(), {"a": 1}, max_wait_s=30, sleep=pauses)
    assert result.sent and result.attempts == 3
    assert pauses == [7.0, 30.0]  # Retry-After honoured, then capped


def test_post_404_is_not_retried_and_names_the_status(receiver):
    receiver.script((404, {}, f"no_service: no webhook at /services/{TOKEN}"))
    result = post_json(receiver.url(), {"a": 1}, sleep=Pauses())
    assert not result.sent and result.attempts == 1 and result.status == 404
    assert result.detail.startswith("not delivered (HTTP 404 from 127.0.0.1: no_service")
    assert "not retried" in result.detail
    assert TOKEN not in result.detail and "notify-test-token" not in result.detail


def test_post_to_a_receiver_that_never_answers_times_out_each_attempt():
    peer = SilentPeer()
    try:
        started = time.monotonic()
        result = post_json(peer.url + "/hook", {"a": 1}, attempts=2, timeout_s=0.3, sleep=Pauses())
        took = time.monotonic() - started
    finally:
        peer.close()
    assert not result.sent and result.attempts == 2 and result.status is None
    assert "timed out" in result.detail.lower() and took < 3


def test_host_of_is_all_that_is_printed_of_a_url():
    assert host_of(f"https://hooks.slack.com/services/{TOKEN}") == "hooks.slack.com"


# --- announce: records in, message out, metrics pushed; secrets never printed ----------------


def test_announce_posts_the_records_verdicts_and_pushes_the_pipeline_end(
    stack, pushgateway, receiver, monkeypatch, capsys
):
    run_id = f"notify-test-{time.time_ns()}"
    for gate, passed in OK.items():
        write_gate_record(run_id, GateRecord(gate, passed, f"{gate} within bounds", "m-n", "t"))
    monkeypatch.setenv("KFP_MLOPS_WEBHOOK_URL", receiver.url())
    monkeypatch.setenv("KFP_MLOPS_PUSHGATEWAY_URL", pushgateway.url)
    monkeypatch.setenv("KFP_MLOPS_UI_URL", "https://kf.example.com")
    pushgateway.wipe()
    outcome = announce(
        state="SUCCEEDED", error_message="", group_task="exit-handler-1", pipeline="training",
        model_name="m-n", kfp_run_id=run_id, message_format="json",
        pipeline_root="minio://mlpipeline/v2/artifacts", job_name="j",
    )  # fmt: skip
    assert outcome == {
        "status": core.BLESSED, "blessed": True, "sent": True, "pushed": True,
        "detail": outcome["detail"],
    }  # fmt: skip
    (request,) = receiver.requests
    body = request["body"]
    assert body["status"] == "succeeded, blessed" and body["model"] == "m-n"
    assert [g["gate"] for g in body["gates"]] == ["validation", "evaluation", "fairness"]
    assert body["run_url"] == f"https://kf.example.com/#/runs/details/{run_id}"
    samples = {(n, labels.get("job")): v for n, labels, v in pushgateway.samples()}
    assert samples[("kfp_mlops_pipeline_last_run_succeeded", "kfp_mlops_pipeline")] == 1.0
    assert samples[("kfp_mlops_pipeline_last_run_blessed", "kfp_mlops_pipeline")] == 1.0
    stamp = samples[
        ("kfp_mlops_pipeline_last_success_timestamp_seconds", "kfp_mlops_pipeline_success")
    ]
    assert time.time() - 60 < stamp <= time.time()
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err and "127.0.0.1" in out.out


def test_announce_failing_receiver_never_raises_and_never_prints_the_token(
    receiver, monkeypatch, capsys
):
    receiver.script((403, {}, f"invalid_token {receiver.url()}"))
    monkeypatch.setenv("KFP_MLOPS_WEBHOOK_URL", receiver.url())
    monkeypatch.delenv("KFP_MLOPS_PUSHGATEWAY_URL", raising=False)
    outcome = announce(
        state="FAILED", error_message="Task exit-handler-1 failed.", group_task="exit-handler-1",
        pipeline="training", model_name="m", kfp_run_id="", message_format="slack",
    )  # fmt: skip
    assert outcome["status"] == core.FAILED and outcome["sent"] is False
    out = capsys.readouterr()
    assert "notification not delivered (HTTP 403 from 127.0.0.1" in out.err
    assert "not retried" in out.err
    assert TOKEN not in out.out + out.err + json.dumps(outcome)


def test_announce_without_webhook_prints_the_message_and_sends_nothing(monkeypatch, capsys):
    monkeypatch.delenv("KFP_MLOPS_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("KFP_MLOPS_PUSHGATEWAY_URL", raising=False)
    outcome = announce(
        state="SUCCEEDED", error_message="", group_task="exit-handler-1", pipeline="deploy",
        model_name="m", kfp_run_id="", message_format="slack",
    )  # fmt: skip
    assert outcome["sent"] is None and outcome["pushed"] is False
    assert "deploy (m): succeeded" in capsys.readouterr().out


# --- through kfp.local -----------------------------------------------------------------------


def test_training_run_notifies_once_succeeded_blessed_with_every_gate_line(
    gated_training_run, webhook
):
    code, summary, run_id = gated_training_run
    model = GATED_MODEL
    assert code == 0 and summary["status"] == "succeeded" and summary["blessed"] is True
    (request,) = webhook.requests  # one run, one notification
    slack = request["body"]
    assert slack["text"] == f"✅ training ({model}): succeeded, blessed"
    body = slack["blocks"][1]["text"]["text"]
    for gate in ("validation", "evaluation", "fairness"):
        assert f"✓ {gate}: " in body
    assert body.splitlines()[-1] == f"local run {run_id}"  # the run id the gates recorded under
    # notify is not a gate and changes nothing in the summary.
    assert set(summary["gates"]) == {"validation", "evaluation", "fairness"}
    # The webhook's token reached the tasks' env, and no file the run left.
    files = [p for p in Path(summary["run_dir"]).rglob("*") if p.is_file()]
    assert len(files) > 20
    assert [str(p) for p in files if TOKEN.encode() in p.read_bytes()] == []


def test_failing_run_still_notifies_failed_naming_the_task(cli, tmp_path, monkeypatch):
    receiver = WebhookReceiver()
    monkeypatch.setenv("KFP_MLOPS_WEBHOOK_URL", receiver.url())
    missing = tmp_path / "nope.csv"
    params = REPO / "examples" / "training-german-credit.yaml"
    try:
        code, out, _ = cli(
            "run-local", "training", "--params", str(params), "--output", "json",
            "-p", f"data_uri={missing}", "-p", "model_name=never-registered-notify",
            "-p", "notify_format=json",
        )  # fmt: skip
    finally:
        receiver.close()
    summary = json.loads(out)
    assert code == 1 and summary["status"] == "failed"
    assert summary["failed_task"] == "load-data"  # unchanged by the exit handler
    (request,) = receiver.requests
    body = request["body"]
    assert body["status"] == "failed" and body["failed_task"] == "snapshot data"
    assert body["text"].startswith("❌ training (never-registered-notify): failed at snapshot data")
    assert body["run"].startswith("local run ") and body["gates"] == []  # no gate ran


def test_announce_unknown_format_warns_naming_the_valid_ones_and_sends_json(
    receiver, monkeypatch, capsys
):
    monkeypatch.setenv("KFP_MLOPS_WEBHOOK_URL", receiver.url())
    monkeypatch.delenv("KFP_MLOPS_PUSHGATEWAY_URL", raising=False)
    outcome = announce(
        state="SUCCEEDED", error_message="", group_task="exit-handler-1", pipeline="training",
        model_name="m", kfp_run_id="", message_format="teams",
    )  # fmt: skip
    assert outcome["sent"] is True
    assert "unknown message_format 'teams'; expected 'slack' or 'json'" in capsys.readouterr().err
    assert receiver.requests[0]["body"]["status"] == "succeeded"


def test_announce_with_s3_unreachable_still_sends_the_message(receiver, monkeypatch, capsys):
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")  # nobody there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "notify-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "notify-test-secret-value")
    monkeypatch.setenv("KFP_MLOPS_WEBHOOK_URL", receiver.url())
    monkeypatch.delenv("KFP_MLOPS_PUSHGATEWAY_URL", raising=False)
    outcome = announce(
        state="SUCCEEDED", error_message="", group_task="exit-handler-1", pipeline="training",
        model_name="m", kfp_run_id="run-without-s3", message_format="json",
    )  # fmt: skip
    assert outcome["sent"] is True and outcome["status"] == core.SUCCEEDED_PLAIN
    err = capsys.readouterr().err
    assert "gate records of run run-without-s3 not read" in err
    assert "notify-test-secret-value" not in err
    assert receiver.requests[0]["body"]["text"].endswith(
        "no gate verdicts recorded\nrun run-without-s3 (set KFP_MLOPS_UI_URL for a link)"
    )


def test_run_seconds_from_the_backends_create_time_and_nothing_from_anything_else():
    from datetime import UTC, datetime

    from components.notify.announce import run_seconds

    now = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)
    assert run_seconds("2026-11-30T12:00:00Z", now) == 30.0
    for unresolved in ("", "{{$.pipeline_job_create_time_utc}}", "2026-11-30T12:00:00", "soon"):
        assert run_seconds(unresolved, now) is None  # never a made-up duration
    assert run_seconds("2026-11-30T12:01:00Z", now) is None  # a clock ahead of ours


def test_local_runs_resolve_the_create_time_placeholder_as_the_backend_does(tmp_path):
    from datetime import UTC, datetime

    from kfp_mlops.runs.placeholders import CREATE_TIME, resolved_spec
    from pipelines.descriptors import compiled_path

    spec = compiled_path("training")
    assert CREATE_TIME in spec.read_text()  # the cluster resolves it
    copy = resolved_spec(spec, tmp_path, datetime(2026, 1, 9, 12, 34, 56, tzinfo=UTC))
    assert CREATE_TIME not in copy.read_text()
    assert "2026-01-09T12:34:56Z" in copy.read_text()


def _compiled_steps(pipeline, tmp_path):
    from kfp import compiler

    path = tmp_path / "spec.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return spec_steps(next(yaml.safe_load_all(path.read_text())))


def test_a_branch_that_ends_in_a_sub_pipeline_is_done_when_the_sub_pipelines_last_task_is(
    tmp_path,
):
    from kfp import dsl

    @dsl.component(base_image="python:3.11")
    def step(x: int) -> int:
        return x

    @dsl.pipeline
    def inner(x: int) -> int:
        first = step(x=x).set_display_name("inner first")
        return step(x=first.output).set_display_name("inner last").output

    @dsl.pipeline
    def outer(x: int = 1):
        start = step(x=x).set_display_name("start")
        with dsl.If(start.output == 1):
            sub = inner(x=start.output)
        with dsl.Else():
            step(x=2).set_display_name("other branch")
        step(x=3).after(sub).set_display_name("after the group")

    steps = _compiled_steps(outer, tmp_path)
    folders = {s.display_name: s.folder for s in steps}
    done = {folders["start"], folders["inner first"]}
    # The sub-pipeline's last task did not complete: it is the one named, not the next step.
    assert stalled_steps(steps, done, "notify") == ["inner last"]
    done.add(folders["inner last"])
    # Its branch is done through the sub-pipeline's last task: the step after the group is.
    assert stalled_steps(steps, done, "notify") == ["after the group"]


def test_tasks_of_one_key_in_two_dags_are_told_apart_by_their_component_folders(tmp_path):
    from kfp import dsl

    @dsl.component(base_image="python:3.11")
    def step(x: int) -> int:
        return x

    @dsl.pipeline
    def outer(x: int = 1):
        step(x=x).set_display_name("root step")  # key "step"
        with dsl.ParallelFor([1, 2], parallelism=1) as item:
            step(x=item).set_display_name("loop step")  # key "step" again, in the loop
        # kfp.local writes a task to its component's folder (comp-step -> step, then step-2).
        step(x=3).set_display_name("last")

    steps = _compiled_steps(outer, tmp_path)
    folders = {s.display_name: s.folder for s in steps}
    assert folders["root step"] != folders["loop step"]
    # The root step completed; the loop's step (same key, its own folder) is what failed.
    assert stalled_steps(steps, {folders["root step"], folders["last"]}, "notify") == ["loop step"]
