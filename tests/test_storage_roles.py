"""Least-privilege storage: each role's MinIO policy, enforced by a real S3 server.

The roles are declared once, as the IAM policy documents in manifests/base/minio/policies/
(one per role, named like the MinIO policy the bucket Job creates). The Job applies exactly
those files (ConfigMap minio-policies) to the user of each role's Secret; here the same files
are attached to SeaweedFS identities (`weed mini`, the embedded stack's S3 server, started on
free 127.0.0.1 ports with a config of its own), and every role is tried inside and outside its
prefixes. SeaweedFS evaluates attached IAM policies with the S3 action of each request
(s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucket ...), not its coarse Read/Write/
List actions, so Put and Delete are told apart; the expected outcomes below are written out
by hand, not derived from the policies.
"""

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from kfp_mlops.stack import ARTIFACT_BUCKET, DATA_BUCKET
from kfp_mlops.stack.processes import free_ports
from kfp_mlops.stack.seaweedfs import AWS_KEY_VARS, REGION, weed_ports

REPO = Path(__file__).resolve().parent.parent
MINIO = REPO / "manifests" / "base" / "minio"
POLICIES = MINIO / "policies"
HOST = "127.0.0.1"

# Each role: its MinIO policy (file stem) and the Secret holding its user's keys.
PIPELINE, PREDICTOR, WRITER = "kfp-mlops", "kfp-mlops-readonly", "kfp-mlops-predictions"
MLFLOW = "kfp-mlops-mlflow"
SECRETS = {
    PIPELINE: "kfp-mlops-s3",
    MLFLOW: "kfp-mlops-s3-mlflow",
    PREDICTOR: "kfp-mlops-s3-readonly",
    WRITER: "kfp-mlops-s3-predictions",
}

# Where each kind of object lives: training data, the prediction log, a model artifact.
DATA = (DATA_BUCKET, "datasets/german-credit/part-0.parquet")
LOG = (DATA_BUCKET, "predictions/german-credit/date=2026-01-01/000000-seed.parquet")
MODEL = (ARTIFACT_BUCKET, "1/0123abcd/artifacts/model/model.skops")
WHERE = {"data": DATA, "predictions": LOG, "model artifacts": MODEL}

# What each role may do where (True: allowed, False: AccessDenied). List is of the bucket with
# the object's folder as prefix.
EXPECTED = {
    PIPELINE: {
        "data": {"get": True, "put": True, "delete": True, "list": True},
        "predictions": {"get": True, "put": True, "delete": True, "list": True},
        "model artifacts": {"get": True, "put": True, "delete": True, "list": True},
    },
    # MLflow's artifact proxy: its bucket only, and never a delete.
    MLFLOW: {
        "data": {"get": False, "put": False, "delete": False, "list": False},
        "predictions": {"get": False, "put": False, "delete": False, "list": False},
        "model artifacts": {"get": True, "put": True, "delete": False, "list": True},
    },
    PREDICTOR: {
        "data": {"get": False, "put": False, "delete": False, "list": False},
        "predictions": {"get": False, "put": False, "delete": False, "list": False},
        "model artifacts": {"get": True, "put": False, "delete": False, "list": True},
    },
    # The writer lists kfp-mlops-data (key names, not contents): the log's bucket check is a
    # HeadBucket, which S3 authorises as s3:ListBucket (manifests/README.md, "Storage roles").
    WRITER: {
        "data": {"get": False, "put": False, "delete": False, "list": True},
        "predictions": {"get": False, "put": True, "delete": False, "list": True},
        "model artifacts": {"get": False, "put": False, "delete": False, "list": False},
    },
}


def declared() -> dict[str, dict]:
    """The roles' policy documents, by policy name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(POLICIES.glob("*.json"))}


def seaweed_config(keys: dict[str, tuple[str, str]]) -> dict:
    """A SeaweedFS S3 config: one identity per role, its policy attached by name.

    `keys` maps a role (policy name) to (access key, secret key); "admin" gets Admin, to seed.
    """
    identities = []
    for name, (access, secret) in keys.items():
        identity = {"name": name, "credentials": [{"accessKey": access, "secretKey": secret}]}
        if name == "admin":
            identity["actions"] = ["Admin"]
        else:
            identity["policyNames"] = [name]
        identities.append(identity)
    policies = [{"name": n, "content": json.dumps(doc)} for n, doc in declared().items()]
    return {"identities": identities, "policies": policies}


def _weed() -> str:
    found = Path(sys.executable).with_name("weed")
    if found.exists():
        return str(found)
    path = shutil.which("weed")
    if path is None:
        pytest.fail("weed not found beside the venv's python or on PATH; run `make install`")
    return path


@pytest.fixture(scope="module")
def roles_s3(tmp_path_factory):
    """A SeaweedFS of its own with the declared roles; yields (endpoint, keys by role)."""
    home = tmp_path_factory.mktemp("roles-s3")
    (home / "data").mkdir()
    (home / "logs").mkdir()
    keys = {name: (f"{name}-{secrets.token_hex(4)}", secrets.token_hex(16)) for name in SECRETS}
    keys["admin"] = (f"admin-{secrets.token_hex(4)}", secrets.token_hex(16))
    config = home / "s3.json"
    config.write_text(json.dumps(seaweed_config(keys)))
    config.chmod(0o600)
    (port,) = free_ports(HOST, 1, exclude=set())
    flags = {
        "ip": HOST,
        "ip.bind": HOST,
        "dir": home / "data",
        "s3.port": port,
        **weed_ports(HOST, {}, port, {port}),
        "s3.config": config,
        "s3.iam": "false",
        "s3.port.iceberg": 0,
        "s3.port.lance": 0,
        "webdav": "false",
        "admin.ui": "false",
        "master.telemetry": "false",
    }
    command = [
        _weed(),
        f"-logdir={home / 'logs'}",
        "mini",
        *(f"-{k}={v}" for k, v in flags.items()),
    ]
    env = {k: v for k, v in os.environ.items() if k not in AWS_KEY_VARS}
    with open(home / "weed.out", "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    endpoint = f"{HOST}:{port}"
    try:
        _seed(_client(endpoint, keys["admin"]), home)
        yield endpoint, keys
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _client(endpoint: str, key: tuple[str, str]) -> Minio:
    return Minio(endpoint, key[0], key[1], secure=False, region=REGION)


def _seed(admin: Minio, home: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            for bucket in (DATA_BUCKET, ARTIFACT_BUCKET):
                if not admin.bucket_exists(bucket):
                    admin.make_bucket(bucket)
            for bucket, key in WHERE.values():
                admin.put_object(bucket, key, io.BytesIO(b"seed"), 4)
                admin.get_object(bucket, key).read()
            return
        except Exception as exc:  # the filer and volume server come up after the S3 port
            if time.monotonic() > deadline:
                log = (home / "weed.out").read_text(errors="replace")[-2000:]
                message = f"SeaweedFS did not become ready ({exc}); its log:\n{log}"
                raise RuntimeError(message) from exc
            time.sleep(0.5)


def _try(action) -> bool:
    """True when S3 did it; False on AccessDenied; anything else is a failure of the test."""
    try:
        action()
    except S3Error as exc:
        if exc.code == "AccessDenied":
            return False
        raise
    return True


def _operation(admin: Minio, client: Minio, op: str, bucket: str, key: str):
    folder = key.rsplit("/", 1)[0] + "/"
    fresh = f"{folder}{op}-{secrets.token_hex(4)}"
    if op == "get":
        return lambda: client.get_object(bucket, key).read()
    if op == "put":
        return lambda: client.put_object(bucket, fresh, io.BytesIO(b"new"), 3)
    if op == "delete":
        admin.put_object(bucket, fresh, io.BytesIO(b"old"), 3)
        return lambda: client.remove_object(bucket, fresh)
    return lambda: list(client.list_objects(bucket, prefix=folder))


CASES = [
    (role, where, op, allowed)
    for role, places in EXPECTED.items()
    for where, ops in places.items()
    for op, allowed in ops.items()
]


@pytest.mark.parametrize(("role", "where", "op", "allowed"), CASES)
def test_each_role_is_allowed_inside_its_prefixes_and_refused_outside(
    roles_s3, role, where, op, allowed
):
    endpoint, keys = roles_s3
    admin, client = _client(endpoint, keys["admin"]), _client(endpoint, keys[role])
    bucket, key = WHERE[where]
    assert _try(_operation(admin, client, op, bucket, key)) is allowed, (role, where, op)


def test_a_refused_delete_leaves_the_object_and_a_batch_delete_is_refused_too(roles_s3):
    endpoint, keys = roles_s3
    admin = _client(endpoint, keys["admin"])
    bucket, key = LOG
    for role in (PREDICTOR, WRITER):
        client = _client(endpoint, keys[role])
        assert not _try(lambda c=client: c.remove_object(bucket, key))
        errors = list(client.remove_objects(bucket, [DeleteObject(key)]))
        assert [e.code for e in errors] == ["AccessDenied"], role
        assert admin.get_object(bucket, key).read() == b"seed", role


def test_the_writer_role_writes_the_prediction_log_for_real(roles_s3, monkeypatch):
    """The real LogStore (bucket check, Parquet PUT, a set-aside JSON Lines PUT) as the writer."""
    from kfp_mlops.serve.logstore import LogStore

    endpoint, keys = roles_s3
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://{endpoint}")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys[WRITER][0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys[WRITER][1])
    store = LogStore(f"s3://{DATA_BUCKET}/predictions/")
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    store.put_table(f"predictions/roles-test/date={day}/", pa.table({"x": [1, 2]}))
    store.put_lines(f"predictions/_rejected/roles-test/date={day}/", ['{"reason": "type"}'])
    # A log prefix outside predictions/ is refused: the role is scoped to the default prefix.
    with pytest.raises(S3Error) as refused:
        store.put_table("datasets/roles-test/", pa.table({"x": [1]}))
    assert refused.value.code == "AccessDenied"
    admin = _client(endpoint, keys["admin"])
    written = {o.object_name.split("/")[1] for o in admin.list_objects(
        DATA_BUCKET, prefix="predictions/", recursive=True)}  # fmt: skip
    assert {"roles-test", "_rejected"} <= written


def test_the_writer_role_can_put_a_multipart_object_under_predictions(roles_s3):
    endpoint, keys = roles_s3
    client = _client(endpoint, keys[WRITER])
    size = 6 << 20  # past minio-py's 5 MiB part size: CreateMultipartUpload, UploadPart, Complete
    key = f"predictions/big/date=2026-01-01/{secrets.token_hex(4)}.parquet"
    client.put_object(DATA_BUCKET, key, io.BytesIO(b"\0" * size), size, part_size=5 << 20)
    assert _client(endpoint, keys["admin"]).stat_object(DATA_BUCKET, key).size == size


# -- the declaration is what the Job applies and what the workloads use ------------------------


def test_only_the_pipeline_role_may_delete_and_every_role_names_only_our_buckets():
    policies = declared()
    assert set(policies) == set(SECRETS)
    for name, policy in policies.items():
        actions = {a for st in policy["Statement"] for a in st["Action"]}
        resources = {r for st in policy["Statement"] for r in st["Resource"]}
        assert all(st["Effect"] == "Allow" for st in policy["Statement"])
        assert ("s3:DeleteObject" in actions) is (name == PIPELINE), name
        buckets = {r.removeprefix("arn:aws:s3:::").split("/")[0] for r in resources}
        assert buckets <= {DATA_BUCKET, ARTIFACT_BUCKET}, name


def _build(target: str = "overlays/standalone") -> list[dict]:
    sys.path.insert(0, str(REPO / "manifests"))
    try:
        import check
    finally:
        sys.path.remove(str(REPO / "manifests"))
    return check.build_all()[target]


def test_the_bucket_job_applies_the_declared_policies_to_each_roles_secret():
    docs = _build()
    (config,) = [
        d for d in docs if d["kind"] == "ConfigMap" and "policies" in d["metadata"]["name"]
    ]
    assert {k.removesuffix(".json"): json.loads(v) for k, v in config["data"].items()} == declared()
    (job,) = [d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == "minio-buckets"]
    pod = job["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert volumes[mounts["/policies"]]["configMap"]["name"] == config["metadata"]["name"]
    mounted = {
        path.removeprefix("/credentials/"): volumes[name]["secret"]["secretName"]
        for path, name in mounts.items()
        if path.startswith("/credentials/")
    }
    assert mounted == SECRETS
    script = pod["containers"][0]["args"][0]
    assert "for file in /policies/*.json" in script
    assert 'mc admin policy create store "$role" "$file"' in script
    assert 'attach "$role" "$user"' in script
    # The Job's own env carries only the root user; role keys come from the mounted Secrets.
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in pod["containers"][0]["env"]
            if "valueFrom" in e}  # fmt: skip
    assert [r.rsplit("-", 1)[0] for r in refs] == ["minio-root"]  # hashed: not named in specs
    secrets_built = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    assert set(SECRETS.values()) <= secrets_built


def _secrets_of(deployment: str) -> set[str]:
    doc = yaml.safe_load((REPO / "manifests/base" / deployment).read_text())
    env = doc["spec"]["template"]["spec"]["containers"][0]["env"]
    return {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in env
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_the_log_sink_mlflow_and_rendered_predictors_use_their_roles_secrets():
    from components.deploy_model import render

    assert SECRETS[PREDICTOR] == render.READONLY_SECRET
    assert SECRETS[WRITER] == render.WRITER_SECRET
    assert _secrets_of("log-sink/deployment.yaml") == {SECRETS[WRITER]}
    assert _secrets_of("mlflow/deployment.yaml") == {SECRETS[MLFLOW]}


# -- the Job's script under a real shell ---------------------------------------------------------
# mc and MinIO cannot run here (neither is installable from the registries the project uses), so
# `mc` is a stand-in that keeps MinIO's user/policy state in a file and answers as mc does where
# the script depends on it: attaching a policy already attached fails, `user info` lists the
# user's policies, detaching one not attached fails.
FAKE_MC = r"""#!/bin/sh
state="$MC_STATE"
touch "$state"
echo "$*" >> "$state.calls"
has() { awk -v u="$1" -v p="$2" '$1=="attached" && $2==u && $3==p' "$state"; }
case "$1 $2 $3" in
  "admin user add") echo "user $5" >> "$state" ;;
  "admin policy attach")  # mc admin policy attach store POLICY --user USER
    if [ -n "$(has "$7" "$5")" ]; then
      echo "mc: <ERROR> policy change is already in effect" >&2; exit 1
    fi
    echo "attached $7 $5" >> "$state" ;;
  "admin policy detach")
    if [ -z "$(has "$7" "$5")" ]; then exit 1; fi
    awk -v u="$7" -v p="$5" '!($1=="attached" && $2==u && $3==p)' "$state" > "$state.new"
    mv "$state.new" "$state" ;;
  "admin user info")
    echo "PolicyName: $(awk -v u="$5" '$1=="attached" && $2==u {printf "%s,", $3}' "$state")" ;;
esac
exit 0
"""


def _job_script(root: Path) -> str:
    docs = _build()
    (job,) = [d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == "minio-buckets"]
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    return script.replace("/policies/", f"{root}/policies/").replace(
        "/credentials/", f"{root}/credentials/"
    )


def _run_job(root: Path, keys: dict[str, str]) -> subprocess.CompletedProcess:
    (root / "policies").mkdir(exist_ok=True)
    for path in POLICIES.glob("*.json"):
        shutil.copyfile(path, root / "policies" / path.name)
    for role, access in keys.items():
        folder = root / "credentials" / role
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "AWS_ACCESS_KEY_ID").write_text(access)  # as a Secret mounts it: no newline
        (folder / "AWS_SECRET_ACCESS_KEY").write_text(f"{access}-secret-key")
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "mc").write_text(FAKE_MC)
    (bin_dir / "mc").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MC_STATE": str(root / "state")}
    env |= {"MINIO_ROOT_USER": "root", "MINIO_ROOT_PASSWORD": "root-password"}
    return subprocess.run(
        ["/bin/sh", "-ec", _job_script(root)], env=env, capture_output=True, text=True
    )


def _attached(root: Path) -> set[tuple[str, str]]:
    lines = (root / "state").read_text().splitlines()
    return {tuple(line.split()[1:]) for line in lines if line.startswith("attached ")}


def test_the_job_script_gives_each_user_its_own_policy_and_a_rerun_changes_nothing(tmp_path):
    keys = {role: f"{role}-user" for role in SECRETS}
    first = _run_job(tmp_path, keys)
    assert first.returncode == 0, first.stderr
    expected = {(f"{role}-user", role) for role in SECRETS}
    assert _attached(tmp_path) == expected
    again = _run_job(tmp_path, keys)  # every attach now fails as "already in effect"
    assert again.returncode == 0, again.stderr
    assert _attached(tmp_path) == expected
    assert "users with their own policy ready: " in again.stdout
    calls = (tmp_path / "state.calls").read_text()
    assert "-secret-key" not in again.stdout + again.stderr  # no secret key in the Job's log
    assert calls.count("admin policy create store") == 2 * len(SECRETS)


def test_the_job_script_moves_a_key_to_its_new_role_without_its_old_rights(tmp_path):
    assert _run_job(tmp_path, {role: f"{role}-user" for role in SECRETS}).returncode == 0
    # The old pipeline user's keys are now the writer's, and the pipeline gets a new user.
    moved = {
        PIPELINE: "new-pipeline-user",
        PREDICTOR: f"{PREDICTOR}-user",
        WRITER: "kfp-mlops-user",
    }
    done = _run_job(tmp_path, moved)
    assert done.returncode == 0, done.stderr
    held = {policy for user, policy in _attached(tmp_path) if user == "kfp-mlops-user"}
    assert held == {WRITER}


def test_the_job_script_refuses_two_roles_with_one_user_and_an_empty_key(tmp_path):
    shared = {PIPELINE: "same-user", PREDICTOR: "same-user", WRITER: "writer-user",
              MLFLOW: "mlflow-user"}  # fmt: skip
    (tmp_path / "shared").mkdir()
    done = _run_job(tmp_path / "shared", shared)
    assert done.returncode == 1
    assert "has the AWS_ACCESS_KEY_ID of another role; give each role its own user" in done.stderr
    empty = {PIPELINE: "pipeline-user", PREDICTOR: "", WRITER: "writer-user",
             MLFLOW: "mlflow-user"}  # fmt: skip
    (tmp_path / "empty").mkdir()
    done = _run_job(tmp_path / "empty", empty)
    assert done.returncode == 1
    assert f"credentials/{PREDICTOR}/AWS_ACCESS_KEY_ID is empty or missing" in done.stderr
