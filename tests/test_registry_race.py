"""Promotions and rollbacks that race, and replies that get lost, against the real stack."""

import contextlib
import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from components._shared.io import s3_client
from components._shared.registry.audit import parse_moves
from components._shared.registry.lease import Lease, LeaseError, lock_uri
from kfp_mlops.errors import RollbackError
from kfp_mlops.model_registry.rollback import alias_history, rollback
from tests import test_register_model as registering
from tests.test_register_model import artifacts, client, evaluation, run, unique

credit = registering.credit  # the fixture

RACERS = 10


def lease_name() -> str:
    return f"lease-{uuid.uuid4().hex[:8]}"


def assert_chained(moves: list[dict]) -> None:
    """Each move of an alias starts where the previous move of that alias ended."""
    last: dict[str, int | None] = {}
    for move in moves:
        assert move["from_version"] == last.get(move["alias"]), (move, moves)
        last[move["alias"]] = move["version"]


# -- the S3 semantics the lease relies on, pinned against SeaweedFS -----------------------------


def test_seaweedfs_conditional_put_decides_create_and_compare_and_swap(stack):
    from minio.error import S3Error

    s3 = s3_client()
    bucket, key = "kfp-mlops-data", f"locks/pin-{uuid.uuid4().hex[:8]}"
    first = s3._put_object(bucket, key, b"one", headers={"If-None-Match": "*"})
    with pytest.raises(S3Error) as exists:
        s3._put_object(bucket, key, b"two", headers={"If-None-Match": "*"})
    assert exists.value.code == "PreconditionFailed"
    with pytest.raises(S3Error) as stale:
        s3._put_object(bucket, key, b"two", headers={"If-Match": '"0123456789abcdef"'})
    assert stale.value.code == "PreconditionFailed"
    second = s3._put_object(bucket, key, b"two", headers={"If-Match": f'"{first.etag}"'})
    assert second.etag != first.etag
    assert s3.get_object(bucket, key).read() == b"two"


def test_seaweedfs_twenty_racing_creates_have_one_winner(stack):
    from minio.error import S3Error

    s3 = s3_client()
    key = f"locks/race-{uuid.uuid4().hex[:8]}"

    def create(i: int) -> bool:
        try:
            s3._put_object("kfp-mlops-data", key, str(i).encode(), headers={"If-None-Match": "*"})
            return True
        except S3Error as exc:
            assert exc.code in ("PreconditionFailed", "ConditionalRequestConflict")
            return False

    with ThreadPoolExecutor(20) as pool:
        assert sum(pool.map(create, range(20))) == 1


# -- the lease -----------------------------------------------------------------------------------


def test_lease_held_elsewhere_fails_after_the_wait_naming_holder_and_expiry(stack):
    name = lease_name()
    with Lease(name, "run-holder"):
        started = time.monotonic()
        with pytest.raises(LeaseError, match=r"held by run-holder until \d{4}-\d\d-\d\dT") as err:
            Lease(name, "run-waiter", wait_s=1).acquire()
        assert 1 <= time.monotonic() - started < 5
        assert lock_uri(name) in str(err.value) and "Re-run when it is released" in str(err.value)
    with Lease(name, "run-waiter", wait_s=1) as lease:  # released: free at once
        assert lease.etag


def test_lease_left_by_a_dead_holder_is_taken_by_its_rerun_not_by_others(stack):
    name = lease_name()
    Lease(name, "run-dead").acquire()  # never released: the holder died
    with pytest.raises(LeaseError, match="held by run-dead"):
        Lease(name, "run-other", wait_s=0.3).acquire()
    with Lease(name, "run-dead", rerun=True, wait_s=0.3) as rerun:  # KFP's retry of that step
        assert rerun.etag


def test_lease_left_by_a_dead_holder_expires_and_is_taken_over(stack):
    name = lease_name()
    Lease(name, "run-dead", ttl_s=1).acquire()
    started = time.monotonic()
    with Lease(name, "run-next", wait_s=5) as lease:
        assert time.monotonic() - started < 5
        stored = json.loads(s3_client().get_object(lease.bucket, lease.key).read())
        assert (stored["who"], stored["released"]) == ("run-next", False)


def test_lease_stays_live_to_a_holder_of_the_previous_release_during_an_upgrade(stack):
    """The previous release judged a lease by its body's `expires` (wall clock) and took a
    lease without one at once; a lease written now still carries it, so mixed releases on
    one lock prefix keep that release's behaviour instead."""
    with Lease(lease_name(), "run-new", ttl_s=60) as lease:
        stored = json.loads(s3_client().get_object(lease.bucket, lease.key).read())
        assert stored["expires"] > time.time() + 30  # live by the previous release's rule
        assert stored["ttl_s"] == 60


def test_lease_lost_to_another_holder_refuses_the_next_move(stack):
    name = lease_name()
    slow = Lease(name, "run-slow", ttl_s=1)
    slow.acquire()
    time.sleep(1.1)  # paused past its TTL, e.g. a stalled pod
    Lease(name, "run-fast").acquire()
    with pytest.raises(LeaseError, match=r"was lost \(now held by run-fast"):
        slow.ensure()


def test_lease_write_whose_reply_was_lost_is_recognised_as_ours(stack):
    # The HTTP client retried a PUT that had landed: the retry answers 412, the body is ours.
    lease = Lease(lease_name(), "run-a")
    body = lease._body(released=False)
    lease.client._put_object(lease.bucket, lease.key, body, headers={"If-None-Match": "*"})
    assert lease._commit(body, {"If-None-Match": "*"}, released=False) is True
    assert lease.etag
    other = Lease(lease.key.removeprefix("locks/").removesuffix(".lease.json"), "run-b")
    assert other._commit(other._body(False), {"If-None-Match": "*"}, released=False) is False


@contextlib.contextmanager
def clock_off_by(seconds: float):
    """This process's wall clock (time.time, time.time_ns) `seconds` off; monotonic untouched."""
    real, real_ns = time.time, time.time_ns
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: real() + seconds)
        patch.setattr(time, "time_ns", lambda: real_ns() + int(seconds * 1e9))
        yield


def test_seaweedfs_stamps_reads_with_its_clock_and_a_rewrite_moves_last_modified(stack):
    from email.utils import parsedate_to_datetime

    s3 = s3_client()
    bucket, key = "kfp-mlops-data", f"locks/clock-{uuid.uuid4().hex[:8]}"
    first = s3._put_object(bucket, key, b"one", headers={"If-None-Match": "*"})
    before = s3.get_object(bucket, key).headers
    time.sleep(1.2)  # Last-Modified has 1-second resolution
    s3._put_object(bucket, key, b"two", headers={"If-Match": f'"{first.etag}"'})
    after = s3.get_object(bucket, key).headers
    assert parsedate_to_datetime(after["Last-Modified"]) > parsedate_to_datetime(
        before["Last-Modified"]
    )
    assert parsedate_to_datetime(after["Date"]) >= parsedate_to_datetime(after["Last-Modified"])


@pytest.mark.parametrize(
    ("holder_off_s", "contender_off_s"),
    [(-70, 0), (70, 0), (0, 70)],
    ids=["holder-70s-behind", "holder-70s-ahead", "contender-70s-ahead"],
)
def test_lease_of_a_holder_with_a_skewed_clock_is_taken_only_once_expired_on_the_server(
    stack, holder_off_s, contender_off_s
):
    name, ttl_s = lease_name(), 3
    started = time.monotonic()
    with clock_off_by(holder_off_s):
        Lease(name, "run-a", ttl_s=ttl_s).acquire()  # never released: left to expire
    with clock_off_by(contender_off_s):
        with pytest.raises(LeaseError, match=r"held by run-a until .* \(S3 server time\)"):
            Lease(name, "run-b", wait_s=0.5).acquire()
        with Lease(name, "run-b", wait_s=30) as lease:
            taken_after_s = time.monotonic() - started
            stored = json.loads(s3_client().get_object(lease.bucket, lease.key).read())
    assert stored["who"] == "run-b"
    assert ttl_s <= taken_after_s < 30  # not before its TTL ran out, nor 70 s late


def test_lease_renewed_by_its_holder_stays_live_past_its_first_ttl(stack):
    name = lease_name()
    holder = Lease(name, "run-a", ttl_s=4)
    with clock_off_by(-70):
        holder.acquire()
        time.sleep(3)
        holder.ensure()  # less than MARGIN_S left: re-PUT, which moves Last-Modified
    time.sleep(2.5)  # past the first write's expiry, within the renewed one
    with pytest.raises(LeaseError, match="held by run-a"):
        Lease(name, "run-b", wait_s=0.3).acquire()
    holder.release()
    with Lease(name, "run-b", wait_s=0.3) as lease:
        assert lease.etag


# -- registrations racing for champion ------------------------------------------------------------


def test_ten_registrations_racing_for_champion_promote_exactly_one(stack, tmp_path, credit):
    name = unique("race10")
    assert run(tmp_path, artifacts(tmp_path, credit, model_name=name))["meta"]["version"] == 1
    values = [0.7, 0.75] + [0.82 + 0.01 * i for i in range(RACERS - 2)]  # two are worse than v1
    racers = []
    for seed, value in enumerate(values, start=1):
        inputs = artifacts(tmp_path, credit, seed=seed, model_name=name)
        inputs["evaluation_report"].metadata.update(evaluation(value, 1.0, 0.8))  # all saw v1
        racers.append(inputs)
    with ThreadPoolExecutor(RACERS) as pool:
        metas = list(pool.map(lambda inputs: run(tmp_path, inputs)["meta"], racers))

    winners = [m for m in metas if m["promoted"]]
    assert len(winners) == 1, [m["reason"] for m in metas]
    champion = int(client().get_model_version_by_alias(name, "champion").version)
    assert winners[0]["version"] == champion
    by_value = dict(zip([m["version"] for m in metas], values, strict=True))
    assert by_value[champion] >= 0.8  # the rule: not worse than the champion it compared with
    for meta, value in zip(metas, values, strict=True):
        if meta is winners[0]:
            continue
        assert "champion" not in meta["aliases"]
        if value < 0.8:
            assert "< champion v1's 0.8000" in meta["reason"]
        else:
            assert f"the champion is now v{champion}" in meta["reason"]
            assert "promoted meanwhile" in meta["reason"]
    for inputs in racers:  # one version per attempt
        found = client().search_model_versions(
            f"name = '{name}' and tags.kfp_run_id = '{inputs['kfp_run_id']}'"
        )
        assert len(found) == 1
    assert len(client().search_model_versions(f"name = '{name}'")) == RACERS + 1
    moves = alias_history(name)
    assert_chained(moves)
    assert [(m["from_version"], m["version"]) for m in moves if m["alias"] == "champion"] == [
        (None, 1),
        (1, champion),
    ]
    challenger = [m["version"] for m in moves if m["alias"] == "challenger"]
    assert challenger == sorted(challenger)  # never back to an older one
    assert challenger[-1] == int(client().get_model_version_by_alias(name, "challenger").version)


@pytest.mark.parametrize("round_", [1, 2])
def test_rollback_racing_a_promotion_only_one_moves_the_champion(stack, tmp_path, credit, round_):
    name = unique(f"rbrace{round_}")
    run(tmp_path, artifacts(tmp_path, credit, model_name=name))
    better = artifacts(tmp_path, credit, seed=1, model_name=name)
    better["evaluation_report"].metadata.update(evaluation(0.85, 1.0, 0.8))
    assert run(tmp_path, better)["meta"]["promoted"] is True  # v2 replaced v1
    late = artifacts(tmp_path, credit, seed=2, model_name=name)
    late["evaluation_report"].metadata.update(evaluation(0.9, 2.0, 0.85))  # v3 saw v2

    def roll() -> str:
        try:
            rollback(name, "race", user="ops", expect_from=2)
            return "rolled back"
        except RollbackError as exc:
            return str(exc)

    with ThreadPoolExecutor(2) as pool:
        promoted = pool.submit(lambda: run(tmp_path, late)["meta"])
        rolled = pool.submit(roll)
        meta, outcome = promoted.result(), rolled.result()

    champion = int(client().get_model_version_by_alias(name, "champion").version)
    if outcome == "rolled back":
        assert champion == 1 and meta["promoted"] is False
        assert "the champion is now v1 but evaluation compared against v2" in meta["reason"]
    else:
        assert champion == 3 and meta["promoted"] is True
        assert "the champion is v3, not v2 as" in outcome  # seen before or under the lock
    moves = alias_history(name)
    assert_chained(moves)
    assert moves[-1]["version"] == champion or moves[-1]["alias"] == "challenger"
    assert len(client().search_model_versions(f"name = '{name}'")) == 3


# -- a lost reply never makes a second object -----------------------------------------------------


class DroppingProxy:
    """A TCP proxy on 127.0.0.1 that forwards everything, except that the reply to the first
    request whose request line starts with `drop` never reaches the client: the proxy waits
    for the server's answer, then closes the client's connection."""

    def __init__(self, upstream: str, drop: bytes):
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream, self.drop, self.dropped = (host, int(port)), drop, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            state = {"drop": False}
            threading.Thread(
                target=self._up, args=(downstream, upstream, state), daemon=True
            ).start()
            threading.Thread(
                target=self._down, args=(upstream, downstream, state), daemon=True
            ).start()

    def _up(self, downstream, upstream, state) -> None:
        tail = b""  # a request line can start mid-chunk (keep-alive) or span two chunks
        while data := self._recv(downstream):
            if self.dropped == 0 and self.drop in tail + data:
                self.dropped, state["drop"] = 1, True  # set before the server can answer
            tail = data[-len(self.drop) :]
            upstream.sendall(data)
        upstream.close()

    def _down(self, upstream, downstream, state) -> None:
        while data := self._recv(upstream):
            if state["drop"]:
                # The server did the work; the client never hears of it. shutdown, not just
                # close: the other thread's blocked recv would otherwise hold the socket open.
                for sock in (downstream, upstream):
                    with contextlib.suppress(OSError):  # the other thread may have closed it
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                return
            downstream.sendall(data)
        downstream.close()

    @staticmethod
    def _recv(sock) -> bytes:
        try:
            return sock.recv(65536)
        except OSError:
            return b""

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize(
    "request_line",
    [
        b"POST /api/2.0/mlflow/model-versions/create ",
        b"POST /api/2.0/mlflow/runs/create ",
        b"POST /api/2.0/mlflow/logged-models ",
    ],
    ids=["version", "run", "logged-model"],
)
def test_lost_reply_to_a_create_still_leaves_one_object(
    stack, tmp_path, credit, monkeypatch, request_line
):
    name = unique("lost")
    proxy = DroppingProxy(stack.env()["MLFLOW_TRACKING_URI"], request_line)
    inputs = artifacts(tmp_path, credit, model_name=name)
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
        meta = run(tmp_path, inputs)["meta"]
    finally:
        proxy.close()
        monkeypatch.setenv("MLFLOW_TRACKING_URI", stack.env()["MLFLOW_TRACKING_URI"])
    assert proxy.dropped == 1  # the reply really was lost
    assert (meta["version"], meta["aliases"]) == (1, ["challenger", "champion"])
    assert len(client().search_model_versions(f"name = '{name}'")) == 1
    experiment = client().get_experiment_by_name(name)
    assert len(client().search_runs([experiment.experiment_id])) == 1
    assert len(client().search_logged_models([experiment.experiment_id])) == 1
    assert [m.alias for m in parse_moves(client().get_registered_model(name).tags)] == [
        "challenger",
        "champion",
    ]


def test_racing_registrations_of_one_model_file_and_lineage_leave_one_version(
    stack, tmp_path, credit
):
    name = unique("twins")
    inputs = artifacts(tmp_path, credit, model_name=name)
    racers = [inputs | {"kfp_run_id": f"run-{uuid.uuid4().hex[:8]}"} for _ in range(6)]
    with ThreadPoolExecutor(len(racers)) as pool:
        metas = list(pool.map(lambda attempt: run(tmp_path, attempt)["meta"], racers))

    versions = client().search_model_versions(f"name = '{name}'")
    assert len(versions) == 1, [m["reason"] for m in metas]  # one change, one version
    kept = int(versions[0].version)
    assert {m["version"] for m in metas} == {kept}
    assert all(m["registered"] for m in metas)
    assert int(client().get_model_version_by_alias(name, "champion").version) == kept
    twins = [m for m in metas if "duplicate registered meanwhile, was deleted" in m["reason"]]
    for meta in twins:
        assert meta["reason"].startswith(f"already registered as v{kept} (same model file")
    moves = alias_history(name)
    assert_chained(moves)
    assert {m["version"] for m in moves} == {kept}  # no alias ever pointed at a twin


def test_a_twin_registered_between_lookup_and_version_is_deleted_under_the_lease(
    stack, tmp_path, credit, monkeypatch
):
    from components.register_model import core

    name = unique("twin")
    inputs = artifacts(tmp_path, credit, model_name=name)
    assert run(tmp_path, inputs)["meta"]["version"] == 1
    looked = []
    real = core.find_same_model

    def missed_once(*args):  # the lookup before the version ran before v1 existed
        looked.append(args[1])
        return None if len(looked) == 1 else real(*args)

    monkeypatch.setattr(core, "find_same_model", missed_once)
    late = run(tmp_path, inputs | {"kfp_run_id": f"run-{uuid.uuid4().hex[:8]}"})["meta"]
    assert len(looked) == 2  # the second look is the one under the lease
    assert late["version"] == 1 and late["registered"]
    assert late["reason"].startswith("already registered as v1 (same model file and lineage)")
    assert "v2, this run's duplicate registered meanwhile, was deleted" in late["reason"]
    assert [v.version for v in client().search_model_versions(f"name = '{name}'")] == ["1"]
