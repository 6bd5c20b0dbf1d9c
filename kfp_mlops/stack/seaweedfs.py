"""SeaweedFS (`weed mini`), the S3 endpoint of the embedded stack: ports, start, readiness."""

import io
import json
import os
import secrets
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from components._shared.errors import ServiceError
from components._shared.io import s3_client
from components._shared.settings import S3Settings
from kfp_mlops.stack.mlflow_server import ARTIFACT_BUCKET
from kfp_mlops.stack.processes import free_port_pair, free_ports, port_in_use, write_private
from kfp_mlops.stack.service import HOST, Log, Service

DATA_BUCKET = "kfp-mlops-data"
REGION = "us-east-1"
S3_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]
AWS_KEY_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")

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


class SeaweedFS(Service):
    """`weed mini` on 127.0.0.1: the S3 endpoint, with the stack's one identity."""

    name = "seaweedfs"
    title = "SeaweedFS"
    binary = "weed"
    port_env = "KFP_MLOPS_S3_PORT"
    timeout_s = 30.0  # weed mini answers in < 1 s

    def _refusal_answers(self) -> bool:
        return True  # S3 refuses an unsigned request: it answered

    def command(self, binary: Path) -> tuple[list[str], dict[str, str]]:
        """`weed mini` flags: loopback only, free internal ports, credentials from s3.json."""
        home = self.stack.home
        access_key, secret_key = self.stack.credentials(create=False)
        credentials = [{"accessKey": access_key, "secretKey": secret_key}]
        identity = {"name": "kfp-mlops", "credentials": credentials, "actions": S3_ACTIONS}
        write_private(home / "s3.json", json.dumps({"identities": [identity]}))
        taken = {service.port for service in self.stack.services}
        recorded = self.stack.recorded_ports().get(self.name, {})
        internal = weed_ports(HOST, recorded, self.port, taken)
        self.stack.record_ports(self.name, {"port": self.port, **internal})
        (home / "seaweedfs").mkdir(exist_ok=True)
        (home / "logs" / "seaweedfs").mkdir(exist_ok=True)
        flags: dict[str, object] = {
            "ip": HOST,
            "ip.bind": HOST,
            "dir": home / "seaweedfs",
            "s3.port": self.port,
            **internal,
            "s3.config": home / "s3.json",
            "s3.iam": "false",
            "s3.port.iceberg": 0,
            "s3.port.lance": 0,
            "webdav": "false",
            "admin.ui": "false",  # the admin server itself always runs (on its recorded ports)
            "master.telemetry": "false",
        }
        if len(str(home)) < 80:  # unix socket paths are capped at 107 bytes: else /tmp
            flags["filer.localSocket"] = home / "filer.sock"
            flags["s3.localSocket"] = home / "s3.sock"
        command = [str(binary), f"-logdir={home / 'logs' / 'seaweedfs'}", "mini"]
        command += [f"-{key}={value}" for key, value in flags.items()]
        # weed mini turns AWS_* keys in its environment into one more admin identity: give it none.
        env = {key: value for key, value in os.environ.items() if key not in AWS_KEY_VARS}
        return command, env

    def ready(self, log: Log) -> None:
        """Create the buckets and prove an object can be stored and read back."""
        access_key, secret_key = self.stack.credentials(create=False)
        settings = S3Settings(f"{HOST}:{self.port}", False, access_key, secret_key, REGION)
        where = f"{self.url}; see {self.log_file}"
        wait_ready(s3_client(settings), (DATA_BUCKET, ARTIFACT_BUCKET), self.timeout_s, where)
        log(f"buckets ready: {DATA_BUCKET}, {ARTIFACT_BUCKET}")


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
