"""A lease lock on the S3 store: one holder per model for alias moves, taken by conditional PUT.

Mechanism: the lease is one small JSON object per model. Taking it is a PUT with
`If-None-Match: *` (create only if absent) or, when the lease was released or has expired, a
PUT with `If-Match: <etag>` of the lease we read (compare-and-swap). Renewing and releasing
are also `If-Match` PUTs, so a holder that lost its lease finds out instead of overwriting the
new holder's. The server decides every race: S3 answers 412 PreconditionFailed to the loser
(AWS S3 conditional writes, docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html;
MinIO; SeaweedFS 4.48, pinned by tests/test_registry_race.py), or 409 ConditionalRequestConflict
while another conditional write to the key is in flight (AWS). Every body carries a random
token, so a PUT whose reply was lost and that the HTTP client retried (then answered 412) is
recognised as ours by reading the object back.

Time: no client's wall clock enters any decision, so holders whose clocks disagree still
exclude each other. The body records only the TTL; a contender judges expiry on the S3
server's clock alone: the lease is live until its `Last-Modified` (set by the server at the
PUT; every renewal re-PUTs and moves it) + TTL + 1 s (both headers have 1-second resolution),
and "now" is the `Date` of the server's answer to the GET that read it. The holder trusts its
lease for TTL measured on its own monotonic clock from before it sent the winning PUT (the
server wrote it later, so the server's window ends later) and, before each alias move, renews
it unless at least MARGIN_S is left. Remaining assumptions: the S3 server's clock (all its
nodes' clocks, for a distributed S3) does not jump and runs at about the rate of the holder's
monotonic clock (drift over one TTL well under MARGIN_S), and a holder's alias move after
`ensure()` takes less than MARGIN_S.
"""

import contextlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

from components._shared.errors import ServiceError
from components._shared.redact import redact

LOCK_URI_ENV = "KFP_MLOPS_LOCK_URI"
DEFAULT_LOCK_URI = "s3://kfp-mlops-data/locks/"
TTL_S = 60.0  # longer than any critical section (a few MLflow calls), short after a crash
WAIT_S = 90.0  # long enough to outwait one lease a crashed holder left behind
MARGIN_S = 15.0  # renew before an alias move unless at least this much lease is left
RESOLUTION_S = 1.0  # of S3's Last-Modified and Date: a lease is live one tick longer
CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict")


class LeaseError(ServiceError):
    """The lease is held by someone else past the wait, or was lost while held."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, as read from its object; times are the S3 server's (epoch seconds)."""

    who: str
    token: str
    expires: float  # Last-Modified + TTL + RESOLUTION_S
    released: bool
    server_now: float  # the Date of the answer that read it

    @property
    def expired(self) -> bool:
        """True when the server's clock says the lease has run out."""
        return self.server_now >= self.expires

    def describe(self) -> str:
        """`<who> until <UTC time> (S3 server time)`, for messages."""
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires))
        return f"{self.who} until {until} (S3 server time)"


def lock_uri(name: str) -> str:
    """The lease object of a model: KFP_MLOPS_LOCK_URI (a prefix) + `<name>.lease.json`."""
    prefix = os.environ.get(LOCK_URI_ENV) or DEFAULT_LOCK_URI
    if not prefix.startswith("s3://") or len(prefix.removeprefix("s3://").strip("/")) == 0:
        raise ServiceError(
            f"{LOCK_URI_ENV}={prefix!r} is not an S3 prefix; set it like {DEFAULT_LOCK_URI}"
        )
    return prefix.rstrip("/") + f"/{name}.lease.json"


class Lease:
    """A held-or-not lease on one model; use as a context manager around alias moves.

    `who` names the holder in messages (a KFP run id, or the CLI user); with `rerun`, a lease
    still held under the same `who` is taken over (it was left by an earlier attempt that died).
    """

    def __init__(
        self,
        name: str,
        who: str,
        *,
        rerun: bool = False,
        ttl_s: float = TTL_S,
        wait_s: float = WAIT_S,
    ):
        from components._shared.io import parse_s3_uri, s3_client

        self.uri = lock_uri(name)
        self.bucket, self.key = parse_s3_uri(self.uri)
        self.client = s3_client()
        self.who, self.rerun, self.ttl_s, self.wait_s = who, rerun, ttl_s, wait_s
        self.token = secrets.token_hex(16)
        self.etag: str | None = None
        self.trusted_until = 0.0  # time.monotonic() after which we no longer count on it

    def __enter__(self) -> "Lease":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lease, waiting at most wait_s for a live holder to release or expire.

        Raises:
            LeaseError: Someone else still holds it; names the holder and its expiry.
            ServiceError: S3 is unreachable or refuses.
        """
        deadline = time.monotonic() + self.wait_s
        delay = 0.05
        while True:
            current = self._read()
            if current is None:
                if self._write({"If-None-Match": "*"}):
                    return
            else:
                holder, etag, _ = current
                # A rerun of the same attempt (same KFP run id) takes over what its dead
                # predecessor held: KFP retries a step only after the earlier pod ended.
                takeover = self.rerun and holder.who == self.who
                if takeover or holder.released or holder.expired:
                    if self._write({"If-Match": f'"{etag}"'}):
                        return
                elif time.monotonic() >= deadline:
                    raise LeaseError(
                        f"the registry lock {self.uri} is held by {holder.describe()}; waited "
                        f"{self.wait_s:.0f} s. Re-run when it is released (a holder that died "
                        f"leaves it to expire within {self.ttl_s:.0f} s)"
                    )
            time.sleep(delay + secrets.randbelow(50) / 1000)  # jitter: racers spread out
            delay = min(delay * 2, 1.0)

    def ensure(self) -> None:
        """Keep the lease ours for a while yet: renew it when less than MARGIN_S is left.

        Call right before each alias move: a holder paused past its TTL must not move an
        alias that a new holder now guards. With more than MARGIN_S left no write is needed:
        nobody takes over a lease before it expires on the server's clock, which ends later
        than our monotonic count (started before the PUT that the server stamped).

        Raises:
            LeaseError: The lease was lost (expired and taken by someone else).
        """
        if self.etag is None:
            raise LeaseError(f"the registry lock {self.uri} is not held; nothing was moved")
        if self.trusted_until - time.monotonic() >= MARGIN_S:
            return
        if not self._write({"If-Match": f'"{self.etag}"'}):
            holder = self._read()
            who = holder[0].describe() if holder else "nobody"
            raise LeaseError(
                f"the registry lock {self.uri} was lost (now held by {who}) before an alias "
                "move; nothing more was moved. Re-run the step"
            )

    def release(self) -> None:
        """Mark the lease released (an If-Match PUT: never clobbers a newer holder)."""
        if self.etag is None:
            return
        with contextlib.suppress(ServiceError):  # it expires by itself within the TTL
            self._write({"If-Match": f'"{self.etag}"'}, released=True)
        self.etag = None

    def _body(self, released: bool) -> bytes:
        self.write_id = secrets.token_hex(8)  # tells our own retried write from another's
        facts = {
            "who": self.who,
            "token": self.token,
            "write": self.write_id,
            "ttl_s": self.ttl_s,  # counted from Last-Modified, on the server's clock
            "released": released,
            # Never read here: for a holder still running the previous release (which judged
            # this wall-clock time) during an upgrade; without it, that reader would find the
            # lease unreadable and take it at once.
            "expires": time.time() + self.ttl_s,
        }
        return json.dumps(facts, sort_keys=True).encode()

    def _write(self, condition: dict[str, str], released: bool = False) -> bool:
        """One conditional PUT of a fresh body; True when it won."""
        return self._commit(self._body(released), condition, released)

    def _commit(self, body: bytes, condition: dict[str, str], released: bool) -> bool:
        """PUT `body` if `condition` holds; True when it (or a retry whose reply was lost) won."""
        from minio.error import S3Error

        sent = time.monotonic()  # before the server can stamp the write: our window ends first
        try:
            result = self._put(body, condition)
        except S3Error as exc:
            if exc.code not in CONFLICT:
                raise self._error("writing", exc) from None
            stored = self._read()  # a retried PUT of ours answers 412: look whether it landed
            if stored is None or stored[2] != body:
                return False
            etag = stored[1]
        except Exception as exc:  # urllib3 errors once its retries are spent
            raise self._error("writing", exc) from None
        else:
            etag = result.etag.strip('"')
        self.etag = None if released else etag
        self.trusted_until = sent + self.ttl_s
        return True

    def _put(self, body: bytes, condition: dict[str, str]):
        # minio-py 7.2 has no public conditional put; _put_object sends our headers as they
        # are (pinned by a test against SeaweedFS). NoSuchBucket: create it once, then retry.
        from minio.error import S3Error

        try:
            return self.client._put_object(self.bucket, self.key, body, headers=condition)
        except S3Error as exc:
            if exc.code != "NoSuchBucket":
                raise
            self.client.make_bucket(self.bucket)
            return self.client._put_object(self.bucket, self.key, body, headers=condition)

    def _read(self) -> tuple[Holder, str, bytes] | None:
        """The lease as stored, its ETag and its bytes, or None when there is none."""
        from minio.error import S3Error

        try:
            response = self.client.get_object(self.bucket, self.key)
            try:
                raw = response.read()
                headers = response.headers
            finally:
                response.close()
                response.release_conn()
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                return None
            raise self._error("reading", exc) from None
        except Exception as exc:
            raise self._error("reading", exc) from None
        written = self._server_time(headers, "Last-Modified")  # stamped by the server at the PUT
        now = self._server_time(headers, "Date")
        try:
            facts = json.loads(raw)
            # A lease written before the TTL was recorded lived TTL_S (the only TTL then used).
            expires = written + float(facts.get("ttl_s", TTL_S)) + RESOLUTION_S
            holder = Holder(str(facts["who"]), str(facts["token"]), expires, facts["released"], now)
        except (ValueError, KeyError, TypeError, AttributeError):
            holder = Holder("an unreadable lease", "", 0.0, False, now)  # expired: taken over
        return holder, headers.get("ETag", "").strip('"'), raw

    def _server_time(self, headers, name: str) -> float:
        """An HTTP date header of S3's answer, as epoch seconds: the clock every holder shares."""
        try:
            stamp = parsedate_to_datetime(headers[name])
        except (KeyError, TypeError, ValueError):
            raise ServiceError(
                f"S3 answered the read of the registry lock {self.uri} without a valid {name} "
                f"header ({headers.get(name)!r}); the lease judges expiry on the S3 server's "
                "clock. Use an S3 server that sends Date and Last-Modified (AWS S3, MinIO and "
                f"SeaweedFS do), or set {LOCK_URI_ENV} to a store on one"
            ) from None
        return stamp.replace(tzinfo=stamp.tzinfo or UTC).timestamp()  # HTTP dates are GMT

    def _error(self, doing: str, exc: Exception) -> ServiceError:
        what = getattr(exc, "code", None) or type(exc).__name__
        return ServiceError(
            redact(
                f"S3 failed while {doing} the registry lock {self.uri} ({what}); nothing was "
                f"moved. Check the S3 endpoint and credentials, or set {LOCK_URI_ENV}"
            )
        )
