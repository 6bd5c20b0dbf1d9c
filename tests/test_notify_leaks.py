"""notify leaks nothing: credentials never reach the webhook, redirects are refused.

Every case runs the component's function (`notify.python_func`) or `post_json` against real
HTTP receivers on 127.0.0.1: a failed run whose error text carries each kind of credential,
in both message formats; a webhook that redirects (the target must receive nothing), answers
500, or stalls past the timeout: each "not delivered" in the step's log, and the step still
returns its status.
"""

import json
from functools import partial

import pytest
from kfp.dsl import PipelineTaskFinalStatus

from components._shared.redact import MASK
from components.notify import announce as announce_module
from components.notify import send
from components.notify.component import notify
from components.notify.core import Verdict, build_notification, payload
from tests.webhook_receiver import TOKEN, WebhookReceiver, redirect, stall

# An S3 secret key as AWS shapes them (40 characters, "/" and "+" included).
S3_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKY"


@pytest.fixture
def hook(monkeypatch):
    receiver = WebhookReceiver()
    monkeypatch.setenv("KFP_MLOPS_WEBHOOK_URL", receiver.url())
    monkeypatch.delenv("KFP_MLOPS_PUSHGATEWAY_URL", raising=False)
    monkeypatch.delenv("KFP_MLOPS_UI_URL", raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    yield receiver
    receiver.close()


def run_notify(error: str, message_format: str, state: str = "FAILED") -> str:
    """The exit step as KFP calls it, for a run that ended with `error`."""
    status = PipelineTaskFinalStatus(
        state=state, pipeline_job_resource_name="runs/r1", pipeline_task_name="exit-handler-1",
        error_code=None, error_message=error,
    )  # fmt: skip
    return notify.python_func(
        status=status, pipeline="training", model_name="m", kfp_run_id="",
        message_format=message_format, pipeline_root="", job_name="", run_created="",
    )  # fmt: skip


def mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# (error text of the failed run, the credentials in it, the error as it must arrive)
CREDENTIALS = {
    "s3 secret key value": (
        f"S3 refused the signature computed with {S3_SECRET} (SignatureDoesNotMatch)",
        [S3_SECRET],
        f"S3 refused the signature computed with {MASK} (SignatureDoesNotMatch)",
    ),
    "uri user and password": (
        "MLflow at http://admin:pa55-w0rd@mlflow.kubeflow:5000/api did not answer",
        ["admin", "pa55-w0rd"],
        f"MLflow at http://{MASK}@mlflow.kubeflow:5000/api did not answer",
    ),
    "key=value secret held by no variable here": (
        "boto config AWS_SECRET_ACCESS_KEY=other-tasks-secret-0123 region=us-east-1",
        ["other-tasks-secret-0123"],
        f"boto config AWS_SECRET_ACCESS_KEY={MASK} region=us-east-1",
    ),
    "json password": (
        'settings {"user": "svc", "password": "hunter2-json"} rejected',
        ["hunter2-json"],
        f'settings {{"user": "svc", "password": "{MASK}"}} rejected',
    ),
    "bearer token": (
        "401 from KFP for Authorization: Bearer sk-live-0123456789abcdef",
        ["sk-live-0123456789abcdef"],
        f"401 from KFP for Authorization: Bearer {MASK}",
    ),
    "aws access key id": (
        "InvalidAccessKeyId: AKIAIOSFODNN7EXAMPLE does not exist",
        ["AKIAIOSFODNN7EXAMPLE"],
        f"InvalidAccessKeyId: {MASK} does not exist",
    ),
    "the webhook's own token": (
        f"echoed POST /services/{TOKEN}",
        [TOKEN, "notify-test-token"],
        f"echoed POST {MASK}",
    ),
}


@pytest.mark.parametrize("message_format", ["slack", "json"])
@pytest.mark.parametrize("kind", list(CREDENTIALS))
def test_failed_runs_error_reaches_the_webhook_with_each_credential_masked(
    hook, capsys, kind, message_format
):
    error, secrets, arrives = CREDENTIALS[kind]
    assert run_notify(error, message_format) == "failed"
    (request,) = hook.requests
    body = request["body"]
    if message_format == "json":
        assert body["error"] == arrives
        assert body["text"].splitlines()[1] == f"error: {arrives}"
    else:
        assert body["blocks"][1]["text"]["text"].splitlines()[0] == f"error: {mrkdwn(arrives)}"
    sent = json.dumps(body, ensure_ascii=False)
    log = capsys.readouterr()
    assert MASK in sent
    for secret in secrets:
        assert secret not in sent and mrkdwn(secret) not in sent
        assert secret not in log.out + log.err  # the step's log too


def test_every_string_of_the_body_is_redacted_where_it_leaves(hook):
    # Not only the error: names, gate lines, the run's link: whatever field carries one.
    leak = "token=field-secret-0123456789"
    note = build_notification(
        state="FAILED", pipeline=f"training {leak}", model=f"m {leak}", run_id=f"r {leak}",
        gates=[Verdict(f"gate {leak}", False, f"line {leak}")],
        ui_url="https://kf:ui-password-99@kf.example.com", failed_task=f"task {leak}",
        error=f"error {leak}",
    )  # fmt: skip
    for message_format in ("slack", "json"):
        assert send.post_json(hook.url(), payload(note, message_format)).sent
    for request in hook.requests:
        sent = json.dumps(request["body"], ensure_ascii=False)
        assert "field-secret" not in sent and "ui-password-99" not in sent
        assert f"token={MASK}" in sent and f"https://{MASK}@kf.example.com" in sent
    assert hook.requests[1]["body"]["model"] == f"m token={MASK}"


def test_a_password_with_markup_is_masked_after_slack_escapes_it(hook, monkeypatch):
    password = "p&ss<w>rd-12345"
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    run_notify(f"login with {password} refused", "slack")
    sent = json.dumps(hook.requests[0]["body"], ensure_ascii=False)
    assert "p&amp;ss&lt;w&gt;rd-12345" not in sent and password not in sent
    assert f"error: login with {MASK} refused" in sent


def test_slacks_length_cut_drops_a_secret_whole_instead_of_leaving_its_start(hook):
    # The block text is "error: " + the error; the secret straddles the 2900-character cut.
    filler = "word " * 576 + "end "  # the secret starts at 2891
    run_notify(f"{filler}{S3_SECRET} tail", "slack")
    block = hook.requests[0]["body"]["blocks"][1]["text"]["text"]
    assert len(block) < 2900 and block.endswith("word end…")
    assert S3_SECRET[:6] not in block


# --- delivery: a redirect is refused, a 500 and a stall are "not delivered" ------------------


@pytest.fixture
def elsewhere():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_post_refuses_every_redirect_and_the_target_receives_nothing(hook, elsewhere, code):
    hook.script(redirect(elsewhere.url("/collector"), code))
    result = send.post_json(hook.url(), {"text": "hi"}, sleep=lambda s: None)
    assert not result.sent and result.status == code and result.attempts == 1
    assert result.detail == (
        f"not delivered (HTTP {code} from 127.0.0.1, a redirect to 127.0.0.1 refused): "
        "redirects are not followed; set the webhook URL to the address that answers"
    )
    assert len(hook.requests) == 1 and elsewhere.requests == []


def outcome_of(err: str) -> dict:
    """The step's outcome, the last line notify prints on stderr."""
    return json.loads(err.strip().splitlines()[-1])


def test_redirecting_webhook_is_not_delivered_and_the_step_still_succeeds(hook, elsewhere, capsys):
    hook.script(redirect(elsewhere.url()))
    assert run_notify(f"S3 said no to {S3_SECRET}", "json") == "failed"
    assert elsewhere.requests == [] and len(hook.requests) == 1
    err = capsys.readouterr().err
    assert (
        "warning: notification not delivered (HTTP 302 from 127.0.0.1, a redirect to "
        "127.0.0.1 refused): redirects are not followed; set the webhook URL to the address "
        "that answers"
    ) in err.splitlines()
    assert outcome_of(err)["sent"] is False and TOKEN not in err


@pytest.fixture
def short_budget(monkeypatch):
    """The real post_json with 2 attempts, short timeouts and pauses (the defaults take 27 s)."""
    fast = partial(send.post_json, attempts=2, timeout_s=0.3, backoff_s=0.01)
    monkeypatch.setattr(announce_module, "post_json", fast)


def test_webhook_answering_500_is_not_delivered_and_the_step_still_succeeds(
    hook, short_budget, capsys
):
    hook.script(*[(500, {}, "internal error")] * 3)
    assert run_notify("", "slack", state="SUCCEEDED") == "succeeded"
    assert len(hook.requests) == 2  # retried, then given up
    err = capsys.readouterr().err
    assert (
        "warning: notification not delivered (HTTP 500 from 127.0.0.1: internal error): "
        "gave up after 2 attempts"
    ) in err.splitlines()
    assert outcome_of(err) == {
        "status": "succeeded", "blessed": None, "sent": False, "pushed": False,
        "detail": "not delivered (HTTP 500 from 127.0.0.1: internal error): gave up after 2 "
        "attempts",
    }  # fmt: skip


def test_webhook_stalling_past_the_timeout_is_not_delivered_and_the_step_still_succeeds(
    hook, short_budget, capsys
):
    hook.script(stall(10), stall(10))
    assert run_notify("", "json", state="SUCCEEDED") == "succeeded"
    assert len(hook.requests) == 2  # each attempt arrived, and timed out
    err = capsys.readouterr().err
    assert (
        "warning: notification not delivered (127.0.0.1: TimeoutError: timed out): "
        "gave up after 2 attempts"
    ) in err.splitlines()
    assert outcome_of(err)["sent"] is False
