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
"""

import contextlib
import json
import os
import secrets
import time
from dataclasses import dataclass

from components._shared.errors import ServiceError
from components._shared.redact import redact

LOCK_URI_ENV = "KFP_MLOPS_LOCK_URI"
DEFAULT_LOCK_URI = "s3://kfp-mlops-data/locks/"
TTL_S = 60.0  # longer than any critical section (a few MLflow calls), short after a crash
WAIT_S = 90.0  # long enough to outwait one lease a crashed holder left behind
MARGIN_S = 15.0  # renew before an alias move unless at least this much lease is left
CONFLICT = ("PreconditionFailed", "ConditionalRequestConflict")


class LeaseError(ServiceError):
    """The lease is held by someone else past the wait, or was lost while held."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, as read from its object."""

    who: str
    token: str
    expires: float
    released: bool

    def describe(self) -> str:
        """`<who> until <UTC time>`, for messages."""
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires))
        return f"{self.who} until {until}"


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
        self.expires = 0.0

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
                if takeover or holder.released or holder.expires <= time.time():
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
        nobody takes over a lease before it expires.

        Raises:
            LeaseError: The lease was lost (expired and taken by someone else).
        """
        if self.etag is None:
            raise LeaseError(f"the registry lock {self.uri} is not held; nothing was moved")
        if self.expires - time.time() >= MARGIN_S:
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
            "expires": time.time() + self.ttl_s,
            "released": released,
        }
        return json.dumps(facts, sort_keys=True).encode()

    def _write(self, condition: dict[str, str], released: bool = False) -> bool:
        """One conditional PUT of a fresh body; True when it won."""
        return self._commit(self._body(released), condition, released)

    def _commit(self, body: bytes, condition: dict[str, str], released: bool) -> bool:
        """PUT `body` if `condition` holds; True when it (or a retry whose reply was lost) won."""
        from minio.error import S3Error

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
        self.expires = json.loads(body)["expires"]
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
                etag = response.headers.get("ETag", "").strip('"')
            finally:
                response.close()
                response.release_conn()
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                return None
            raise self._error("reading", exc) from None
        except Exception as exc:
            raise self._error("reading", exc) from None
        try:
            facts = json.loads(raw)
            holder = Holder(
                str(facts["who"]), str(facts["token"]), float(facts["expires"]), facts["released"]
            )
        except (ValueError, KeyError, TypeError):
            holder = Holder("an unreadable lease", "", 0.0, False)  # expired: taken over
        return holder, etag, raw

    def _error(self, doing: str, exc: Exception) -> ServiceError:
        what = getattr(exc, "code", None) or type(exc).__name__
        return ServiceError(
            redact(
                f"S3 failed while {doing} the registry lock {self.uri} ({what}); nothing was "
                f"moved. Check the S3 endpoint and credentials, or set {LOCK_URI_ENV}"
            )
        )
