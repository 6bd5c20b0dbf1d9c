"""Dataset versions on the real embedded stack: add, tags, resolve, tampering, load_data."""

import hashlib
import io
import json
import re
import uuid

import pandas as pd
import pytest

from components._shared.datasets import refs, store
from components._shared.errors import ConfigError, DataError
from components._shared.io.s3 import parse_s3_uri, s3_client
from tests.conftest import GERMAN_CREDIT


@pytest.fixture
def root(stack, monkeypatch):
    """A store of its own under the data bucket, so tests do not see each other's datasets."""
    uri = f"s3://kfp-mlops-data/datasets-{uuid.uuid4().hex[:8]}/"
    monkeypatch.setenv(refs.ROOT_ENV, uri)
    return uri


@pytest.fixture
def small_csv(tmp_path):
    path = tmp_path / "small.csv"
    pd.DataFrame({"age": [31, 45, 22], "job": ["a", "b", "c"], "y": [0, 1, 0]}).to_csv(
        path, index=False
    )
    return path


def _stored(root: str) -> dict[str, str]:
    """Every object under the store and its ETag: what a refused step must leave as it was."""
    bucket, _, prefix = root.removeprefix("s3://").partition("/")
    objects = s3_client().list_objects(bucket, prefix, recursive=True)
    return {o.object_name: o.etag for o in objects}


def _overwrite(uri: str, data: bytes) -> None:
    bucket, key = parse_s3_uri(uri)
    s3_client().put_object(bucket, key, io.BytesIO(data), len(data))


# -- the reference syntax (no I/O) --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "dataset://credit",
        "dataset://credit@",
        "dataset://credit@sha256:abc",
        "dataset://Credit@prod",
        "dataset://credit@1prod",
        "dataset://s3://x@prod",
        "dataset://@prod",
    ],
)
def test_parse_ref_bad_syntax_names_the_syntax(text):
    with pytest.raises(ConfigError, match="expected dataset://NAME@sha256:HEX"):
        refs.parse_ref(text)


def test_parse_ref_version_and_tag_round_trip():
    digest = "ab" * 32
    assert refs.parse_ref(f"dataset://credit@sha256:{digest}") == refs.Ref("credit", digest)
    assert refs.parse_ref("credit@prod") == refs.Ref("credit", tag="prod")
    assert str(refs.Ref("credit", tag="prod")) == "dataset://credit@prod"


# -- add, list, show through the CLI -----------------------------------------------------------


def test_data_add_show_list_round_trip(cli, root, small_csv):
    code, out, err = cli("data", "add", str(small_csv), "--name", "credit", "--tag", "prod")
    assert code == 0, err
    digest = hashlib.sha256(small_csv.read_bytes()).hexdigest()
    assert out.splitlines()[-1] == f"dataset://credit@sha256:{digest}"

    code, out, _ = cli("data", "show", f"credit@sha256:{digest}")
    found = json.loads(out)["manifest"]
    assert code == 0
    assert found["rows"] == 3 and found["columns"] == ["age", "job", "y"]
    assert found["dtypes"]["age"] == "int64" and found["sources"][0]["sha256"] == digest
    assert found["time_window"] is None and found["label_schema_version"] is None
    assert found["parents"] == [] and found["created_by"] and found["created_at"]

    code, out, _ = cli("data", "list")
    assert out.split() == ["credit"]
    code, out, _ = cli("data", "list", "credit")
    assert f"dataset://credit@sha256:{digest}" in out and "[prod]" in out

    code, out, _ = cli("data", "show", "credit@prod")
    shown = json.loads(out)
    assert shown["manifest"]["sha256"] == digest
    assert [(m["from"], m["to"]) for m in shown["tag_history"]] == [(None, digest)]


def test_data_add_same_bytes_twice_returns_the_version_unchanged(cli, root, small_csv):
    cli("data", "add", str(small_csv), "--name", "credit")
    before = _stored(root)
    code, out, _ = cli("data", "add", str(small_csv), "--name", "credit")
    assert code == 0 and "already stored, unchanged" in out
    assert _stored(root) == before


def test_tag_moves_are_recorded_in_order_never_rewritten(root, small_csv, tmp_path):
    first, _ = store.add(str(small_csv), "credit", tag="prod", user="ann")
    other = tmp_path / "other.csv"
    other.write_text("age,job,y\n50,d,1\n")
    second, created = store.add(str(other), "credit", tag="prod", user="bob")
    assert created
    store.add(str(small_csv), "credit", tag="prod", user="cy")  # moved back: a third record
    store.add(str(small_csv), "credit", tag="prod", user="dee")  # already there: no record
    moves = store.tag_history("credit", "prod")
    a, b = first["sha256"], second["sha256"]
    assert [(m["seq"], m["from"], m["to"], m["who"]) for m in moves] == [
        (1, None, a, "ann"),
        (2, a, b, "bob"),
        (3, b, a, "cy"),
    ]
    assert store.resolve("dataset://credit@prod") == (first["object"], a)
    assert [m["sha256"] for m in store.versions("credit")] == [a, b]


def test_parent_versions_are_pinned_by_hash(root, small_csv, tmp_path):
    parent, _ = store.add(str(small_csv), "raw", tag="latest")
    child_file = tmp_path / "child.csv"
    child_file.write_text("age,job,y\n31,a,0\n")
    child, _ = store.add(str(child_file), "clean", parents=["dataset://raw@latest"])
    assert child["parents"] == [f"raw@sha256:{parent['sha256']}"]


# -- bad input: refused, named, nothing stored changed ------------------------------------------


@pytest.mark.parametrize(
    ("reference", "match"),
    [
        ("nosuch@prod", "unknown dataset 'nosuch'.*data list"),
        (f"credit@sha256:{'0' * 64}", "has no version sha256:0+; `kfp-mlops data list credit`"),
        ("credit@staging", r"has no tag 'staging'; its tags are \['prod'\]"),
        ("credit@sha256:xyz", "expected dataset://NAME@sha256:HEX"),
    ],
)
def test_data_show_bad_reference_refused_with_the_way_out(cli, root, small_csv, reference, match):
    cli("data", "add", str(small_csv), "--name", "credit", "--tag", "prod")
    before = _stored(root)
    code, _, err = cli("data", "show", reference)
    assert code != 0
    assert re.search(match, err), err
    assert _stored(root) == before


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--name", "Bad Name"], "bad dataset name 'Bad Name'"),
        (["--name", "credit", "--tag", "sha256:x"], "bad dataset tag"),
        (["--name", "credit", "--parent", "dataset://nosuch@prod"], "unknown dataset 'nosuch'"),
    ],
)
def test_data_add_bad_arguments_store_nothing(cli, root, small_csv, args, match):
    code, _, err = cli("data", "add", str(small_csv), *args)
    assert code != 0 and match in err, err
    assert _stored(root) == {}


def test_data_add_a_file_that_is_no_table_stores_nothing(cli, root, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    code, _, err = cli("data", "add", str(bad), "--name", "credit")
    assert code != 0 and "bad.csv" in err
    assert _stored(root) == {}


def test_tampered_bytes_refused_on_read(root, small_csv):
    found, _ = store.add(str(small_csv), "credit", tag="prod")
    _overwrite(found["object"], b"age,job,y\n99,z,1\n")
    with pytest.raises(DataError, match=r"no longer match their hash.*Re-add the original"):
        store.read_verified("dataset://credit@prod")


# -- load_data reads dataset:// -----------------------------------------------------------------


def test_load_data_reads_a_dataset_version_and_names_it(root, tmp_path):
    from components.load_data.core import snapshot

    found, _ = store.add(str(GERMAN_CREDIT), "german-credit", tag="prod")
    snap = snapshot("dataset://german-credit@prod", tmp_path / "out.parquet")
    assert snap.sha256 == found["sha256"] == hashlib.sha256(GERMAN_CREDIT.read_bytes()).hexdigest()
    assert snap.uri == found["reference"] and snap.rows == found["rows"]  # pinned, not the tag
    assert pd.read_parquet(tmp_path / "out.parquet").shape == (found["rows"], len(snap.columns))


def test_load_data_reads_a_parquet_version(root, tmp_path):
    from components.load_data.core import snapshot

    source = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(source)
    found, _ = store.add(str(source), "pq")
    snap = snapshot(found["reference"], tmp_path / "out.parquet")
    assert snap.sha256 == found["sha256"] and snap.rows == 2


def test_load_data_refuses_a_tampered_version(root, tmp_path, small_csv):
    from components.load_data.core import snapshot

    found, _ = store.add(str(small_csv), "credit")
    _overwrite(found["object"], b"age,job,y\n99,z,1\n")
    out = tmp_path / "out.parquet"
    with pytest.raises(DataError, match="no longer match their hash"):
        snapshot(found["reference"], out)
    assert not out.exists()


def test_load_data_refuses_an_unknown_version(root, tmp_path, small_csv):
    from components.load_data.core import snapshot

    store.add(str(small_csv), "credit")
    with pytest.raises(DataError, match="has no tag 'nosuch'"):
        snapshot("dataset://credit@nosuch", tmp_path / "out.parquet")


def test_redact_keeps_a_dataset_reference_and_still_masks_userinfo():
    from components._shared.redact import redact

    text = "dataset://credit@prod from s3://user:secretpass@host/x"
    assert redact(text) == "dataset://credit@prod from s3://***@host/x"


def test_run_parameters_accept_a_dataset_reference_and_refuse_a_bad_one():
    from kfp_mlops.params.rules import RULES

    params = {"data_uri": "dataset://credit@prod"}
    assert RULES["data_uri"].problem("dataset://credit@prod", params) is None
    assert "no version or tag" in RULES["data_uri"].problem("dataset://credit", params)
    assert "unsupported scheme" in RULES["labels_uri"].problem("dataset://credit@prod", params)


def test_load_data_reads_a_pinned_version_after_its_tag_moved(root, tmp_path, small_csv):
    from components.load_data.core import snapshot

    first, _ = store.add(str(small_csv), "credit", tag="prod")
    recorded = snapshot("dataset://credit@prod", tmp_path / "a.parquet")
    other = tmp_path / "other.csv"
    other.write_text("age,job,y\n50,d,1\n")
    store.add(str(other), "credit", tag="prod")
    again = snapshot(recorded.uri, tmp_path / "b.parquet", recorded.sha256)  # as a reference
    assert again.sha256 == first["sha256"] and again.rows == 3
    with pytest.raises(DataError, match=r"was expected.*dataset://NAME@sha256:"):
        snapshot("dataset://credit@prod", tmp_path / "c.parquet", recorded.sha256)
