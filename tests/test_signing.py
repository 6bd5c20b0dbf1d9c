"""Signed models: register_model signs, every load verifies, against the real embedded MLflow."""

import base64
import hashlib
import io
import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

from components._shared.errors import ConfigError
from components._shared.io import s3_client
from components._shared.model_io import MODEL_FILE, ModelTrustError
from components._shared.registry import signing
from components._shared.registry.champion import load_champion, load_model_uri, load_version
from components._shared.registry.signing import LINEAGE_FILE, SIGNATURE_FILE, SIGNATURE_TAG
from components._shared.settings import MODEL_PUBLIC_KEY_ENV, MODEL_SIGNING_KEY_ENV
from kfp_mlops.stack import ARTIFACT_BUCKET
from tests.conftest import GERMAN_CREDIT, REPO, free_port
from tests.serving import ROWS, Process, command, post
from tests.test_register_model import FEATURES, artifacts, run, train


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.read_csv(GERMAN_CREDIT).head(300)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Two real EC P-256 key pairs: ours, and someone else's."""
    folder = tmp_path_factory.mktemp("keys")
    pairs = {}
    for who in ("ours", "theirs"):
        pairs[who] = (folder / f"{who}.key", folder / f"{who}.pub")
        signing.write_key_pair(*pairs[who])
    return pairs


@pytest.fixture
def no_keys(monkeypatch):
    monkeypatch.delenv(MODEL_SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv(MODEL_PUBLIC_KEY_ENV, raising=False)


def register(tmp_path, credit, monkeypatch, private: Path | None, seed: int = 0) -> str:
    """Register through the real register_model component; the signing key as given."""
    name = f"signing-{uuid.uuid4().hex[:8]}"
    if private is None:
        monkeypatch.delenv(MODEL_SIGNING_KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(MODEL_SIGNING_KEY_ENV, str(private))
    assert (
        run(tmp_path, artifacts(tmp_path, credit, seed=seed, model_name=name))["meta"]["version"]
        == 1
    )
    monkeypatch.delenv(MODEL_SIGNING_KEY_ENV, raising=False)  # loaders never hold it
    return name


def stored_key(name: str, file: str) -> str:
    """The S3 key of a file stored with version 1's logged model."""
    from mlflow import MlflowClient

    model_id = MlflowClient().get_model_version(name, "1").source.removeprefix("models:/")
    suffix = f"/{model_id}/artifacts/{file}"
    found = [
        o.object_name
        for o in s3_client().list_objects(ARTIFACT_BUCKET, recursive=True)
        if o.object_name.endswith(suffix)
    ]
    assert len(found) == 1, found
    return found[0]


def read(key: str) -> bytes:
    response = s3_client().get_object(ARTIFACT_BUCKET, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def overwrite(key: str, data: bytes) -> None:
    s3_client().put_object(ARTIFACT_BUCKET, key, io.BytesIO(data), len(data))


def tags(name: str) -> dict[str, str]:
    from mlflow import MlflowClient

    return dict(MlflowClient().get_model_version(name, "1").tags)


def set_tag(name: str, key: str, value: str) -> None:
    from mlflow import MlflowClient

    MlflowClient().set_model_version_tag(name, "1", key, value)


def test_signed_registration_round_trips_through_every_load(
    stack, tmp_path, credit, keys, monkeypatch
):
    name = register(tmp_path, credit, monkeypatch, keys["ours"][0])
    signature = read(stored_key(name, SIGNATURE_FILE))
    recorded = tags(name)
    # Beside the model file: the signature and the lineage it covers; the tag records it.
    assert recorded[SIGNATURE_TAG] == (
        f"{SIGNATURE_FILE} sha256:{hashlib.sha256(signature).hexdigest()}"
    )
    signed_lineage = json.loads(read(stored_key(name, LINEAGE_FILE)))
    assert signed_lineage["model_sha256"] == recorded["model_sha256"]
    assert signed_lineage == {k: recorded[k] for k in signed_lineage}
    assert json.loads(signature)["mediaType"].startswith("application/vnd.dev.sigstore.bundle")

    monkeypatch.setenv(MODEL_PUBLIC_KEY_ENV, str(keys["ours"][1]))
    expected = train(credit).predict(credit[FEATURES])
    for found in (
        load_version(name, 1),
        load_champion(name),
        load_model_uri(f"models:/{name}@champion"),
    ):
        assert found.version == 1
        assert (found.model.predict(credit[FEATURES]) == expected).all()


def test_file_and_sha_tag_both_rewritten_is_refused_naming_the_signature(
    stack, tmp_path, credit, keys, monkeypatch, no_keys
):
    name = register(tmp_path, credit, monkeypatch, keys["ours"][0])
    other = artifacts(tmp_path, credit, seed=7)["model"]  # a real model of trusted classes
    overwrite(stored_key(name, MODEL_FILE), Path(other.path).read_bytes())
    set_tag(name, "model_sha256", other.metadata["sha256"])

    # Without a public key this is the gap the signature closes: the swapped model loads.
    assert load_version(name, 1).sha256 == other.metadata["sha256"]

    monkeypatch.setenv(MODEL_PUBLIC_KEY_ENV, str(keys["ours"][1]))
    with pytest.raises(ModelTrustError) as caught:
        load_version(name, 1)
    message = str(caught.value)
    assert f"models:/{name}/1: signature check failed" in message
    assert f"{MODEL_FILE} or {LINEAGE_FILE} is not what {SIGNATURE_FILE} signed" in message
    assert f"(changed after signing: {MODEL_FILE})" in message
    assert MODEL_SIGNING_KEY_ENV in message and "kfp-mlops rollback" in message  # the way out


def test_a_rewritten_lineage_tag_is_refused_naming_it(
    stack, tmp_path, credit, keys, monkeypatch, no_keys
):
    name = register(tmp_path, credit, monkeypatch, keys["ours"][0])
    set_tag(name, "dataset_sha256", "e" * 64)
    monkeypatch.setenv(MODEL_PUBLIC_KEY_ENV, str(keys["ours"][1]))
    with pytest.raises(
        ModelTrustError, match="tags differ from the signed lineage: dataset_sha256"
    ):
        load_champion(name)


def _tampered(bundle: bytes) -> bytes:
    """The same bundle with one bit of its ECDSA signature flipped."""
    parsed = json.loads(bundle)
    envelope = parsed["dsseEnvelope"]["signatures"][0]
    raw = bytearray(base64.b64decode(envelope["sig"]))
    raw[-1] ^= 0x01
    envelope["sig"] = base64.b64encode(bytes(raw)).decode()
    return json.dumps(parsed).encode()


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_tampered, f"{SIGNATURE_FILE} does not verify"),
        (lambda _: b"not a signature", f"{SIGNATURE_FILE} does not verify (JSONDecodeError"),
    ],
    ids=["flipped-bit", "garbage"],
)
def test_a_tampered_signature_is_refused(
    stack, tmp_path, credit, keys, monkeypatch, no_keys, damage, problem
):
    name = register(tmp_path, credit, monkeypatch, keys["ours"][0])
    key = stored_key(name, SIGNATURE_FILE)
    overwrite(key, damage(read(key)))
    monkeypatch.setenv(MODEL_PUBLIC_KEY_ENV, str(keys["ours"][1]))
    with pytest.raises(ModelTrustError) as caught:
        load_version(name, 1)
    assert f"models:/{name}/1: signature check failed: {problem}" in str(caught.value)


def test_a_signature_by_another_key_is_refused(stack, tmp_path, credit, keys, monkeypatch, no_keys):
    name = register(tmp_path, credit, monkeypatch, keys["theirs"][0])
    monkeypatch.setenv(MODEL_PUBLIC_KEY_ENV, str(keys["ours"][1]))
    with pytest.raises(ModelTrustError) as caught:
        load_champion(name)
    assert f"{SIGNATURE_FILE} was made with another key than {MODEL_PUBLIC_KEY_ENV}" in str(
        caught.value
    )


def test_a_signature_replaced_by_another_valid_one_is_refused(
    stack, tmp_path, credit, keys, monkeypatch, no_keys
):
    """A valid signature of another version, stored with this one: its lineage is not this one's."""
    first = register(tmp_path, credit, monkeypatch, keys["ours"][0])
    second = register(tmp_path, credit, monkeypatch, keys["ours"][0], seed=3)
    for file in (SIGNATURE_FILE, LINEAGE_FILE):
        overwrite(stored_key(first, file), read(stored_key(second, file)))
    monkeypatch.setenv(MODEL_PUBLIC_KEY_ENV, str(keys["ours"][1]))
    with pytest.raises(ModelTrustError, match="signature check failed"):
        load_version(first, 1)


def test_a_missing_signature_with_a_key_configured_is_refused(
    stack, tmp_path, credit, keys, monkeypatch, no_keys, capsys
):
    name = register(tmp_path, credit, monkeypatch, None)
    assert SIGNATURE_TAG not in tags(name)
    assert f"model not signed: no private key configured ({MODEL_SIGNING_KEY_ENV})" in (
        capsys.readouterr().err
    )
    monkeypatch.setenv(MODEL_PUBLIC_KEY_ENV, str(keys["ours"][1]))
    with pytest.raises(ModelTrustError) as caught:
        load_version(name, 1)
    message = str(caught.value)
    assert f"no {SIGNATURE_FILE} beside {MODEL_FILE}, and {MODEL_PUBLIC_KEY_ENV} is set" in message
    assert "register the model again from a training run whose register step has " in message


def test_without_a_public_key_loads_as_today_said_once(
    stack, tmp_path, credit, keys, monkeypatch, no_keys, capsys
):
    unsigned = register(tmp_path, credit, monkeypatch, None)
    signed = register(tmp_path, credit, monkeypatch, keys["ours"][0])
    monkeypatch.setattr(signing, "_unverified_said", False)
    capsys.readouterr()
    for name in (unsigned, signed, unsigned):
        assert load_version(name, 1).version == 1
    err = capsys.readouterr().err
    line = f"model signatures not verified: no public key configured ({MODEL_PUBLIC_KEY_ENV})"
    assert err.count(line) == 1


def test_key_variables_naming_no_usable_key_are_config_errors(
    stack, tmp_path, credit, keys, monkeypatch, no_keys
):
    monkeypatch.setenv(MODEL_SIGNING_KEY_ENV, str(tmp_path / "absent.key"))
    with pytest.raises(ConfigError, match=f"{MODEL_SIGNING_KEY_ENV}=.*absent.key names no file"):
        run(tmp_path, artifacts(tmp_path, credit, model_name=f"signing-{uuid.uuid4().hex[:8]}"))
    monkeypatch.setenv(MODEL_SIGNING_KEY_ENV, str(keys["ours"][1]))  # a public key
    with pytest.raises(ConfigError, match="is not a usable EC private key"):
        run(tmp_path, artifacts(tmp_path, credit, model_name=f"signing-{uuid.uuid4().hex[:8]}"))

    name = register(tmp_path, credit, monkeypatch, keys["ours"][0])
    monkeypatch.setenv(MODEL_PUBLIC_KEY_ENV, str(keys["ours"][0]))  # the private key
    with pytest.raises(ConfigError, match="is not a usable EC public key"):
        load_version(name, 1)


def test_the_server_refuses_a_bad_signature_before_binding_its_port(
    stack, tmp_path, credit, keys, monkeypatch, no_keys
):
    name = register(tmp_path, credit, monkeypatch, keys["theirs"][0])
    env = {**__import__("os").environ, MODEL_PUBLIC_KEY_ENV: str(keys["ours"][1])}
    # The port is taken: a server that got as far as binding would fail naming the port.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        done = subprocess.run(
            command("serve", f"models:/{name}/1", "--host", "127.0.0.1", "--port", str(port)),
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"models:/{name}/1: signature check failed: {SIGNATURE_FILE} was made with " in (
        done.stderr
    )
    assert "in use" not in done.stderr and str(port) not in done.stderr


def test_the_server_serves_a_version_signed_with_its_key(
    stack, tmp_path, credit, keys, monkeypatch, no_keys
):
    name = register(tmp_path, credit, monkeypatch, keys["ours"][0])
    server = Process(
        "serve", f"models:/{name}/1", "--no-log", env={MODEL_PUBLIC_KEY_ENV: str(keys["ours"][1])}
    )
    try:
        status, body = post(f"{server.base}/v1/models/{name}:predict", {"instances": ROWS})
        assert status == 200 and len(body["predictions"]) == len(ROWS)
    finally:
        code, err = server.stop()
    assert code == 0 and "model signatures not verified" not in err


def test_the_stack_makes_one_key_pair_and_exports_its_paths(tmp_path, monkeypatch):
    from kfp_mlops.stack import Stack, keys

    local = Stack(home=tmp_path / "home", s3_port=free_port(), mlflow_port=free_port())
    assert keys.env(local.home) == {}  # no pair yet: loaders behave as before
    keys.make(local.home, log=lambda _: None)
    private, public = keys.paths(local.home)
    first = private.read_bytes()
    keys.make(local.home, log=lambda _: None)  # kept, not replaced
    assert private.read_bytes() == first and private.stat().st_mode & 0o077 == 0
    local.credentials(create=True)
    exported = {k: v for k, v in local.env().items() if k in keys.env(local.home)}
    assert exported == {MODEL_SIGNING_KEY_ENV: str(private), MODEL_PUBLIC_KEY_ENV: str(public)}

    # The pair is one: what the private key signs, the public key verifies.
    for key, value in exported.items():
        monkeypatch.setenv(key, value)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / MODEL_FILE).write_bytes(b"model bytes")
    lineage = {"model_sha256": hashlib.sha256(b"model bytes").hexdigest()}
    tag = signing.sign_model(folder / MODEL_FILE, lineage, folder)
    assert signing.verify_model(folder, lineage | tag, "the local model") is True


def test_the_rendered_predictor_mounts_the_public_key_only_when_the_deploy_step_has_one():
    from components._shared.registry.signing import PUBLIC_KEY_CONFIG_MAP, PUBLIC_KEY_MOUNT
    from components.deploy_model import render

    target = render.Target(
        service="credit", namespace="ml", model_name="credit", version=3, sha256="a" * 64,
        image="registry.example/kfp-mlops:0.3.0", service_account="kfp-mlops-predictor",
        deployment_mode=render.RAW, prediction_log=render.NO_LOG, log_sink_url="",
        resources={"requests": {"cpu": "1", "memory": "1Gi"},
                   "limits": {"cpu": "1", "memory": "1Gi"}},
    )  # fmt: skip
    plain = render.predictor(target)
    assert PUBLIC_KEY_CONFIG_MAP not in json.dumps(plain)
    assert MODEL_PUBLIC_KEY_ENV not in json.dumps(plain)

    from dataclasses import replace

    spec = render.predictor(replace(target, verify_signatures=True))
    container = spec["containers"][0]
    volume = next(v for v in spec["volumes"] if v.get("configMap"))
    assert volume["configMap"] == {"name": PUBLIC_KEY_CONFIG_MAP}
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert mount == {"name": volume["name"], "mountPath": PUBLIC_KEY_MOUNT, "readOnly": True}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env[MODEL_PUBLIC_KEY_ENV] == f"{PUBLIC_KEY_MOUNT}/model-signing.pub"
    assert MODEL_SIGNING_KEY_ENV not in env  # servers never hold the private key


def _mounts(spec_path: Path) -> dict[str, list[tuple[str, str, str]]]:
    """Per executor: (kind, name, mount path) of every Secret/ConfigMap volume it mounts."""
    import yaml

    docs = list(yaml.safe_load_all(spec_path.read_text()))
    executors = next(d for d in docs if "platforms" in d)["platforms"]["kubernetes"]
    found = {}
    for executor, settings in executors["deploymentSpec"]["executors"].items():
        found[executor] = [
            ("Secret", v["secretName"], v["mountPath"]) for v in settings.get("secretAsVolume", [])
        ] + [
            ("ConfigMap", v["configMapName"], v["mountPath"])
            for v in settings.get("configMapAsVolume", [])
        ]
    return found


def test_only_the_register_step_mounts_the_private_key_and_every_loader_the_public_one():
    from components._shared.registry.signing import (
        PUBLIC_KEY_CONFIG_MAP,
        PUBLIC_KEY_MOUNT,
        SIGNING_MOUNT,
        SIGNING_SECRET,
    )

    private = ("Secret", SIGNING_SECRET, SIGNING_MOUNT)
    public = ("ConfigMap", PUBLIC_KEY_CONFIG_MAP, PUBLIC_KEY_MOUNT)
    mounts = {}
    for spec in ("training", "monitoring", "deploy"):
        mounts |= {f"{spec}/{e}": m for e, m in _mounts(REPO / "compiled" / f"{spec}.yaml").items()}
    holders = sorted(e for e, m in mounts.items() if private in m)
    # The training pipeline's register step, and the same step where monitoring retrains.
    assert holders and all(e.endswith("exec-register-model") for e in holders), holders
    loaders = {e.split("/")[1] for e, m in mounts.items() if public in m}
    # Sharded drift: the plan pins the champion, each map task scores with it (both fan-ins).
    sharded = {f"exec-{t}{n}" for t in ("plan-drift-shards", "drift-shard") for n in ("", "-2")}
    assert loaders == {"exec-evaluate-model", "exec-detect-drift", "exec-deploy-model"} | sharded


def test_every_overlay_defines_the_keys_where_the_steps_look_for_them():
    from components._shared.registry.signing import (
        PUBLIC_KEY_CONFIG_MAP,
        PUBLIC_KEY_MOUNT,
        PUBLIC_KEY_NAME,
        SIGNING_KEY_NAME,
        SIGNING_MOUNT,
        SIGNING_SECRET,
    )
    from manifests import check

    for target, docs in check.build_all().items():
        if target in check.ADDONS:
            continue
        named = {(d["kind"], d["metadata"]["name"]): d for d in docs}
        assert set(named[("Secret", SIGNING_SECRET)]["data"]) == {SIGNING_KEY_NAME}, target
        assert set(named[("ConfigMap", PUBLIC_KEY_CONFIG_MAP)]["data"]) == {PUBLIC_KEY_NAME}
        config = named[("ConfigMap", "kfp-mlops-config")]["data"]
        assert config[MODEL_SIGNING_KEY_ENV] == f"{SIGNING_MOUNT}/{SIGNING_KEY_NAME}", target
        assert config[MODEL_PUBLIC_KEY_ENV] == f"{PUBLIC_KEY_MOUNT}/{PUBLIC_KEY_NAME}", target


def test_the_examples_are_not_keys_so_an_unreplaced_one_fails_closed(tmp_path, monkeypatch):
    secrets = REPO / "manifests" / "base" / "secrets"
    examples = {w: secrets / f"model-signing-{w}.pem.env.example" for w in ("private", "public")}
    monkeypatch.setenv(MODEL_PUBLIC_KEY_ENV, str(examples["public"]))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / MODEL_FILE).write_bytes(b"model")
    (folder / SIGNATURE_FILE).write_text("{}")
    (folder / LINEAGE_FILE).write_text("{}")
    with pytest.raises(ConfigError, match=f"{MODEL_PUBLIC_KEY_ENV}=.* is not a usable EC public"):
        signing.verify_model(folder, {}, "models:/credit/1")
    monkeypatch.setenv(MODEL_SIGNING_KEY_ENV, str(examples["private"]))
    with pytest.raises(ConfigError, match=f"{MODEL_SIGNING_KEY_ENV}=.* is not a usable EC private"):
        signing.sign_model(folder / MODEL_FILE, {}, tmp_path / "out")


def test_compiled_specs_carry_no_key_material(tmp_path, keys):
    env = {
        **__import__("os").environ,
        MODEL_SIGNING_KEY_ENV: str(keys["ours"][0]),
        MODEL_PUBLIC_KEY_ENV: str(keys["ours"][1]),
    }
    code = (
        "import sys; from pathlib import Path\n"
        "from pipelines.compile import compile_pipeline\n"
        "from pipelines.descriptors import pipelines\n"
        "for name in pipelines(): compile_pipeline(name, Path(sys.argv[1]) / f'{name}.yaml')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=REPO, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    specs = sorted(tmp_path.glob("*.yaml"))
    assert specs
    for spec in specs:
        text = spec.read_text()
        for path in keys["ours"]:
            body = "".join(path.read_text().splitlines()[1:-1])  # the PEM's base64
            assert body[:40] not in text.replace("\n", "") and str(path) not in text, spec.name
        assert (REPO / "compiled" / spec.name).read_text() == text  # the env changes nothing


def test_evaluation_drift_deploy_and_the_cli_refuse_a_foreign_signature(
    stack, tmp_path, credit, keys, monkeypatch, no_keys, capsys
):
    from kfp import dsl

    from components.deploy_model.registry import resolve
    from components.detect_drift.component import detect_drift
    from kfp_mlops.cli.main import main as cli_main
    from tests.test_evaluate_model import run_gate, trained

    name = register(tmp_path, credit, monkeypatch, keys["theirs"][0])
    candidate, predictions = trained(tmp_path, credit, "logistic_regression", {})
    monkeypatch.setenv(MODEL_PUBLIC_KEY_ENV, str(keys["ours"][1]))
    refused = f"models:/{name}/1: signature check failed: {SIGNATURE_FILE} was made with another"

    with pytest.raises(ModelTrustError, match=refused):  # the champion it compares with
        run_gate(tmp_path, candidate, predictions, name, min_accuracy=0.5)
    data = tmp_path / "credit.parquet"
    credit.to_parquet(data)
    with pytest.raises(ModelTrustError, match=refused):  # prediction drift
        detect_drift.python_func(
            reference=dsl.Dataset(uri=str(data)), current=dsl.Dataset(uri=str(data)),
            columns=[], method="auto", drift_share=0.5,
            metrics=dsl.Metrics(uri=str(tmp_path / "m")),
            report=dsl.Markdown(uri=str(tmp_path / "r")),
            report_html=dsl.HTML(uri=str(tmp_path / "h")), thresholds={}, column_methods={},
            model_name=name, model_alias="champion", kfp_run_id="",
        )  # fmt: skip
    with pytest.raises(ModelTrustError, match=refused):  # before anything reaches the cluster
        resolve(name, "champion")
    code = cli_main(["drift", str(data), str(data), "--model", f"models:/{name}@champion"])
    assert code == 1 and refused in capsys.readouterr().err
