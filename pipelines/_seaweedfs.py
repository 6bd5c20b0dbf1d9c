"""SeaweedFS specifics of the embedded stack: its internal ports, and when it is ready."""

import io
import secrets
import time
from collections.abc import Callable
from functools import partial

from components._shared.errors import ServiceError
from pipelines._processes import free_port_pair, free_ports, port_in_use

# weed mini opens every one of these; left unset they take fixed defaults (9333, 23646, ...) or
# HTTP port + 10000, which collide with another stack or program, so each gets a free port.
WEED_INTERNAL_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
)
# Except the admin server's gRPC port: its maintenance worker always dials admin port + 10000.
WEED_GRPC_OFFSET = 10000
ALL_PORTS = (*WEED_INTERNAL_PORTS, "admin.port", "admin.port.grpc")
READY_PROBE = ".kfp-mlops-stack/ready-"  # removed right after it is read back


def weed_ports(host: str, recorded: dict[str, int], s3_port: int, taken: set[int]) -> dict:
    """The last start's internal ports if all are free (a restart is as before), else new."""
    again = {name: recorded[name] for name in ALL_PORTS if name in recorded}
    same = recorded.get("port") == s3_port and len(again) == len(ALL_PORTS)
    if same and not any(port_in_use(host, port) for port in again.values()):
        return again
    ports = free_ports(host, len(WEED_INTERNAL_PORTS), exclude=taken)
    internal = dict(zip(WEED_INTERNAL_PORTS, ports, strict=True))
    admin = free_port_pair(host, WEED_GRPC_OFFSET, exclude=taken | set(ports))
    return internal | {"admin.port": admin, "admin.port.grpc": admin + WEED_GRPC_OFFSET}


def wait_ready(client, buckets: tuple[str, ...], timeout_s: float, where: str) -> None:
    """Create the buckets, then store and read back a probe object, retrying until timeout.

    The filer can lag a moment behind the S3 port; after a restart the volume server
    registers with the master a moment after S3 answers, and until then stored objects
    cannot be read (InternalError).

    Raises:
        ServiceError: Still failing after timeout_s; names `where`.
    """
    deadline = time.monotonic() + timeout_s
    for bucket in buckets:
        _retry(
            partial(_ensure_bucket, client, bucket), f"cannot create {bucket!r}", deadline, where
        )
    probe = partial(_round_trip, client, buckets[0])
    _retry(probe, "cannot store and read back an object", deadline, where)


def _retry(action: Callable[[], object], failure: str, deadline: float, where: str) -> None:
    while True:
        try:
            action()
            return
        except Exception as exc:  # minio raises S3Error or urllib3 errors
            if time.monotonic() > deadline:
                raise ServiceError(f"{failure} on {where} ({exc})") from exc
            time.sleep(0.5)


def _ensure_bucket(client, bucket: str) -> None:
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)


def _round_trip(client, bucket: str) -> None:
    """Store, read back and delete a probe object (proves the volume server is registered)."""
    key, payload = f"{READY_PROBE}{secrets.token_hex(4)}", b"ready"
    client.put_object(bucket, key, io.BytesIO(payload), len(payload))
    try:
        response = client.get_object(bucket, key)
        try:
            if response.read() != payload:
                raise OSError("the probe object read back differs")
        finally:
            response.close()
            response.release_conn()
    finally:
        client.remove_object(bucket, key)
