"""Approvals and `promote` on the real stack: consent on the record, under the model's lease.

One module-scoped model with five versions (v1 champion at registration), none approved. The
tests run in file order and build on one another's decisions, as a person's week would: v2
approved and promoted, v3 approved then rejected, v4 crashed half-way, v4 and v5 raced. The
deploy pipeline's require_approval runs against the fake Kubernetes API
(tests/fake_kube_server.py).
"""

import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from components._shared.errors import ConfigError
from components._shared.failpoints import Crash, armed, crash
from components._shared.registry.approvals import (
    APPROVED,
    Approval,
    ApprovalError,
    decide,
    evidence_of,
    parse_approval,
    refusal,
)
from components._shared.registry.audit import Move, history, parse_moves
from components._shared.registry.names import APPROVAL_TAG, LIVE_COMPARISON_TAG
from components.deploy_model.core import deploy_model
from kfp_mlops.model_registry.approve import describe_evidence
from kfp_mlops.model_registry.identity import who
from kfp_mlops.model_registry.notices import notice
from kfp_mlops.model_registry.promote import promote
from tests import test_deploy_model as deploying
from tests import test_register_model as registering
from tests.test_register_model import artifacts, client, run, unique
from tests.webhook_receiver import TOKEN, WebhookReceiver

credit = registering.credit  # the fixtures
fake = deploying.fake
COMPARISON = {
    "passed": True, "champion_version": 1, "requests": 1200, "labelled": 800,
    "agreement": 0.9725, "metric": "roc_auc", "champion_value": 0.71,
    "challenger_value": 0.74, "delta_low": 0.004, "delta_high": 0.061, "run": "run-cmp",
    "at": "2026-12-01T00:00:00+00:00",
}  # fmt: skip
CANNOT_JUDGE = {
    "passed": False, "cannot_judge": True,
    "cannot_judge_reason": "0 labelled paired rows < 200 (min_labelled_rows); wait for labels",
}  # fmt: skip


@pytest.fixture(scope="module")
def model(stack, tmp_path_factory, credit):
    """A registered model with versions 1 (champion) to 5, none approved."""
    name = unique("approve")
    folder = tmp_path_factory.mktemp("registered")
    for seed in range(5):
        run(folder, artifacts(folder, credit, seed=seed, model_name=name))
    return name


@pytest.fixture
def kfp(cli, capsys, monkeypatch):
    """`kfp-mlops ...` as alice, its output its own."""
    monkeypatch.setenv("KFP_MLOPS_USER", "alice")

    def call(*args):
        capsys.readouterr()
        return cli(*args)

    return call


@pytest.fixture
def webhook(monkeypatch):
    receiver = WebhookReceiver()
    monkeypatch.setenv("KFP_MLOPS_WEBHOOK_URL", receiver.url())
    yield receiver
    receiver.close()


def trail(name: str) -> dict[str, str]:
    return client().get_registered_model(name).tags


def history_of(kfp, name: str) -> list[dict]:
    code, out, err = kfp("history", name, "--output", "json")
    assert code == 0, err
    return json.loads(out)


def aliases(name: str) -> dict[str, int]:
    return {a: int(v) for a, v in (client().get_registered_model(name).aliases or {}).items()}


# -- pure rules --------------------------------------------------------------------------------


def test_a_decision_record_reads_back_and_old_move_records_still_read():
    decision = Move(3, "", 2, None, "t", "alice", "ok", action="approve", evidence={"x": 1})
    move = Move(1, "champion", 1, None, "t0", "run", "why")
    assert "alias" not in json.loads(decision.value())  # a decision moves no alias
    old = '{"alias": "champion", "from_version": null, "time": "t0", "version": 1, "who": "run", "why": "why"}'  # noqa: E501
    tags = {
        decision.tag: decision.value(),
        move.tag: old,
        "kfp_mlops.alias_move.000009": '{"action": "later", "version": 1}',
    }
    assert parse_moves(tags) == [move, decision]  # an unknown kind of record is skipped
    assert decision.public()["action"] == "approve" and move.public()["action"] == "move"
    assert move.public()["alias"] == "champion" and decision.public()["alias"] is None
    assert [m.seq for m in history([move, decision], {"champion": 1}, decision)] == [1]


def test_approval_tag_evidence_and_refusals_read_as_documented():
    approval = Approval(APPROVED, "alice", "T", "looks good", COMPARISON)
    assert parse_approval({APPROVAL_TAG: approval.value()}) == approval
    assert parse_approval({APPROVAL_TAG: "{not json"}) is None and parse_approval({}) is None
    assert evidence_of({LIVE_COMPARISON_TAG: json.dumps(COMPARISON | {"extra": 1})}) == COMPARISON
    assert evidence_of({}) is None and evidence_of({LIVE_COMPARISON_TAG: "[1]"}) is None
    assert "kfp-mlops approve m 3 --reason TEXT" in refusal("m", 3, None)
    rejected = Approval("rejected", "bob", "T", "biased")
    assert "register a new version" in refusal("m", 3, rejected)
    assert refusal("m", 3, approval) is None
    assert describe_evidence(3, None) == "no live comparison on record for v3"
    line = describe_evidence(3, COMPARISON)
    assert line.startswith("live comparison on record: passed, agreement 0.9725, 1200 requests")
    assert "roc_auc 0.74 vs champion v1 0.71" in line and "[0.004, 0.061]" in line


def test_evidence_that_could_not_judge_says_so_and_old_tags_still_read():
    unjudged = COMPARISON | CANNOT_JUDGE
    assert evidence_of({LIVE_COMPARISON_TAG: json.dumps(unjudged)}) == unjudged
    line = describe_evidence(3, unjudged)
    assert line.startswith("live comparison on record: cannot judge: 0 labelled paired rows")
    assert "failed" not in line and "1200 requests" in line
    failed = COMPARISON | {"passed": False}  # a tag from before the field: as it always read
    assert describe_evidence(3, failed).startswith("live comparison on record: failed, ")
    judged = failed | {"cannot_judge": False, "cannot_judge_reason": None}
    assert describe_evidence(3, judged).startswith("live comparison on record: failed, ")


def test_who_is_the_user_then_the_pods_service_identity_then_the_login(tmp_path, monkeypatch):
    namespace = tmp_path / "namespace"
    namespace.write_text("kubeflow\n")
    monkeypatch.setenv("KFP_MLOPS_SERVICE_ACCOUNT", "pipeline-runner")
    monkeypatch.setenv("KFP_MLOPS_USER", "alice")
    assert who(namespace) == "alice"
    monkeypatch.delenv("KFP_MLOPS_USER")
    assert who(namespace) == "system:serviceaccount:kubeflow:pipeline-runner"
    assert who(tmp_path / "not-in-a-pod") not in (
        "",
        "system:serviceaccount:kubeflow:pipeline-runner",
    )
    monkeypatch.delenv("KFP_MLOPS_SERVICE_ACCOUNT")
    assert not who(namespace).startswith("system:serviceaccount:")  # no name: the login


def test_notice_carries_the_action_and_a_line_a_person_reads():
    body = notice("promote", "m", 3, "alice", "canary fine", alias="production", detail="x")
    assert body["text"] == "⏫ promote m v3 by alice: canary fine (x)"
    assert (body["action"], body["version"], body["alias"]) == ("promote", 3, "production")


# -- against the real stack --------------------------------------------------------------------


def test_approve_unknown_model_or_version_says_so_and_changes_nothing(kfp, model):
    before = trail(model)
    code, out, err = kfp("approve", "no-such-model-anywhere", "1", "--reason", "x")
    assert code == 1 and out == "" and "no registered model 'no-such-model-anywhere'" in err
    code, out, err = kfp("approve", model, "99", "--reason", "x")
    assert code == 1 and out == "" and f"model {model!r} has no version 99" in err
    assert "nothing was changed" in err
    code, _, err = kfp("approve", model, "2")
    assert code == 2 and "--reason" in err  # argparse: the reason is required
    assert trail(model) == before


def test_approve_records_evidence_once_then_promote_moves_production(kfp, model, webhook):
    client().set_model_version_tag(model, "2", LIVE_COMPARISON_TAG, json.dumps(COMPARISON))
    code, out, err = kfp("approve", model, "2", "--reason", "shadow week looked fine")
    assert code == 0, err
    assert f"{model} v2 approved by alice at " in out and "live comparison on record: passed" in out
    tag = json.loads(client().get_model_version(model, "2").tags[APPROVAL_TAG])
    assert (tag["decision"], tag["by"], tag["reason"]) == (
        "approved",
        "alice",
        "shadow week looked fine",
    )
    assert tag["evidence"] == COMPARISON
    (sent,) = webhook.requests
    assert sent["body"]["action"] == "approve" and sent["body"]["who"] == "alice"
    assert sent["body"]["version"] == 2 and sent["body"]["evidence"] == COMPARISON

    before = trail(model)  # approving twice: says who did, records nothing
    code, out, _ = kfp("approve", model, "2", "--reason", "again")
    assert code == 0 and f"already approved by alice at {tag['at']}" in out
    assert "nothing recorded" in out and trail(model) == before and len(webhook.requests) == 1

    code, out, err = kfp("promote", model, "2", "--alias", "production", "--reason", "go live")
    assert code == 0, err
    assert (
        "production moved from (unset) to v2 by alice" in out and aliases(model)["production"] == 2
    )
    assert webhook.requests[-1]["body"]["action"] == "promote"
    entries = history_of(kfp, model)
    approve = [e for e in entries if e["action"] == "approve"]
    assert approve == [{
        "action": "approve", "alias": None, "version": 2, "from_version": None,
        "time": tag["at"], "who": "alice", "why": "shadow week looked fine",
        "evidence": COMPARISON,
    }]  # fmt: skip
    assert entries[-1] | {"time": ""} == {
        "action": "move", "alias": "production", "version": 2, "from_version": None, "time": "",
        "who": "alice", "why": "promote: go live", "evidence": None,
    }  # fmt: skip
    code, text, _ = kfp("history", model)
    assert any(
        "approve" in line and "v2" in line and "by alice" in line for line in text.splitlines()
    )


class Terminal(io.StringIO):
    """A stdin that is a terminal, with a person's answer typed in."""

    def isatty(self) -> bool:
        return True


def test_promote_forward_sideways_stale_expect_from_and_rollback_back(
    kfp, model, webhook, monkeypatch
):
    code, _, err = kfp("promote", model, "1", "--alias", "staging", "--reason", "try")
    assert code == 0, err  # any other alias: no approval needed
    assert kfp("promote", model, "4", "--alias", "staging", "--reason", "next")[0] == 0
    assert aliases(model)["staging"] == 4
    before = trail(model)
    code, out, err = kfp(
        "promote", model, "1", "--alias", "staging", "--reason", "x", "--expect-from", "1"
    )
    assert code == 1 and out == ""
    assert "alias 'staging' is v4, not v1 as --expect-from says; nothing was changed" in err
    assert aliases(model)["staging"] == 4 and trail(model) == before
    code, _, err = kfp("promote", model, "4", "--alias", "champion", "--reason", "x")
    assert code == 1 and f"kfp-mlops approve {model} 4 --reason TEXT" in err
    assert aliases(model)["champion"] == 1 and trail(model) == before
    code, _, err = kfp("promote", model, "2", "--alias", "latest", "--reason", "x")
    assert code == 2 and "not an alias MLflow accepts" in err

    assert kfp("approve", model, "2", "--reason", "fine")[0] == 0  # approved (or already)
    code, out, err = kfp(
        "promote", model, "2", "--alias", "champion", "--reason", "by hand", "--expect-from", "1"
    )
    assert code == 0 and "champion moved from v1 to v2" in out, err
    assert client().get_model_version(model, "2").tags["kfp_mlops.previous_champion"] == "1"
    code, _, err = kfp("rollback", model)  # no reason, no terminal
    assert code == 2 and "--reason" in err and aliases(model)["champion"] == 2
    monkeypatch.setattr("sys.stdin", Terminal("back to v1\n"))  # on a terminal: asked
    code, out, err = kfp("rollback", model, "--expect-from", "2")
    assert code == 0 and "from v2 to v1" in out and "(back to v1)" in out, err
    assert webhook.requests[-1]["body"] | {"text": ""} == {
        "text": "", "action": "rollback", "model": model, "version": 1, "who": "alice",
        "why": "back to v1",
    }  # fmt: skip
    moves = [(e["alias"], e["from_version"], e["version"]) for e in history_of(kfp, model)]
    assert moves[-2:] == [("champion", 1, 2), ("champion", 2, 1)]


def test_reject_withdraws_an_approval_and_a_rejection_stands(kfp, model, webhook):
    unjudged = COMPARISON | CANNOT_JUDGE  # approved on a comparison that could not judge
    client().set_model_version_tag(model, "3", LIVE_COMPARISON_TAG, json.dumps(unjudged))
    code, out, err = kfp("approve", model, "3", "--reason", "first look fine")
    assert code == 0, err
    assert "live comparison on record: cannot judge: 0 labelled paired rows < 200" in out
    assert "failed" not in out
    tag = json.loads(client().get_model_version(model, "3").tags[APPROVAL_TAG])
    assert tag["evidence"] == unjudged  # recorded as such
    webhook.script((404, {}, "no such hook"))  # the next notice fails: a warning, no undo
    code, out, err = kfp("approve", model, "3", "--reject", "--reason", "biased on age")
    assert code == 0 and f"{model} v3 rejected by alice" in out, err
    assert "this withdraws the approval (approved by alice" in out
    assert "notification not delivered" in err and TOKEN not in err
    assert (
        json.loads(client().get_model_version(model, "3").tags[APPROVAL_TAG])["decision"]
        == "rejected"
    )
    before = trail(model)
    code, out, err = kfp("approve", model, "3", "--reason", "changed my mind")
    assert code == 1 and out == "" and "a rejection stands: register a new version" in err
    for alias in ("production", "canary"):
        code, _, err = kfp("promote", model, "3", "--alias", alias, "--reason", "x")
        assert code == 1 and "was rejected by alice" in err and "never promoted" in err
    assert trail(model) == before and "canary" not in aliases(model)
    decisions = [(e["action"], e["version"]) for e in history_of(kfp, model) if not e["alias"]]
    assert decisions == [("approve", 2), ("approve", 3), ("reject", 3)]


def test_a_crash_between_record_and_tag_is_no_decision(kfp, model):
    before = client().get_model_version(model, "3").tags[APPROVAL_TAG]
    with armed("approval.record_written", crash), pytest.raises(Crash):
        decide(model, 4, "approve", "mallory", "half-written")
    assert APPROVAL_TAG not in client().get_model_version(model, "4").tags
    assert [e for e in history_of(kfp, model) if e["who"] == "mallory"] == []
    with pytest.raises(ApprovalError, match="has not been approved"):
        promote(model, 4, "production", "x", user="ops")
    assert decide(model, 2, "approve", "ops", "x").recorded is False  # under the lease: reconciles
    stored = [m for m in parse_moves(trail(model)) if m.who == "mallory"]
    assert [m.abandoned for m in stored] == [True]
    assert client().get_model_version(model, "3").tags[APPROVAL_TAG] == before


# The promotion starts with the approvals (usually before either is whole: refused), or
# after they have had time to finish (usually promoted); either way the record must agree.
@pytest.mark.parametrize(("version", "delay_s"), [(4, 0.0), (5, 1.5)])
def test_two_approvals_racing_a_promotion_agree_with_the_record(model, version, delay_s):
    name = model
    pause = threading.Event()

    def slow(*_):  # hold the lease between record and tag: a reader outside it would see half
        pause.wait(0.5)

    def approve(user):
        return decide(name, version, "approve", user, f"race {user}").recorded

    def promoting():
        time.sleep(delay_s)
        try:
            promote(name, version, "production", "race", user="ops")
            return "promoted"
        except ApprovalError as exc:
            return str(exc)

    with armed("approval.record_written", slow), ThreadPoolExecutor(3) as pool:
        futures = [
            pool.submit(approve, "alice"),
            pool.submit(promoting),
            pool.submit(approve, "bob"),
        ]
        (first, outcome, second) = [f.result() for f in futures]

    assert sorted([first, second]) == [False, True]  # one records, the other finds it done
    records = [m for m in parse_moves(trail(name)) if m.version == version and not m.abandoned]
    approvals = [m for m in records if m.action == "approve"]
    assert len(approvals) == 1
    tag = json.loads(client().get_model_version(name, str(version)).tags[APPROVAL_TAG])
    assert (tag["by"], tag["at"]) == (approvals[0].who, approvals[0].time)
    moves = [m for m in records if m.alias == "production" and m.action is None]
    if outcome == "promoted":  # it ran after the approval, whole
        assert aliases(name)["production"] == version
        assert [m.seq > approvals[0].seq for m in moves] == [True]
    else:  # it ran before: saw no approval at all
        assert "has not been approved" in outcome and moves == []
        assert aliases(name).get("production") != version


def test_deploy_refuses_an_unapproved_version_before_anything_is_deployed(fake, model):
    request = deploying.request(model, "unapproved", version="1", percent=0)
    with pytest.raises(ApprovalError) as refused:
        deploy_model(request)
    assert f"kfp-mlops approve {model} 1 --reason TEXT" in str(refused.value)
    assert "nothing was deployed" in str(refused.value)
    assert (deploying.NS, "unapproved") not in fake.objects
    rejected = deploying.request(model, "rejected", version="3", percent=0)
    with pytest.raises(ApprovalError, match="never promoted"):
        deploy_model(rejected)
    assert (deploying.NS, "rejected") not in fake.objects

    waived = deploying.request(model, "waived", version="1", percent=0, require_approval=False)
    outcome = deploy_model(waived)
    assert outcome.promoted and (deploying.NS, "waived") in fake.objects
    assert outcome.steps[0] == "approval: not required (require_approval=False)"
    with pytest.raises(ConfigError):
        decide(model, 1, "approve", "alice", " ")  # a decision without a reason
