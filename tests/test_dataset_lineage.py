"""Dataset versions in the loop: load_data stores its snapshot, lineage and the drift reference
name the version, tags race, folders are added streamed; each refusal changes nothing stored."""

import hashlib
import io
import json
import re
import threading
import uuid

import pandas as pd
import pytest

from components._shared.datasets import refs, store
from components._shared.errors import DataError
from components._shared.io.partitions import DateWindow
from components._shared.io.s3 import parse_s3_uri, s3_client
from components.load_data.core import snapshot
from tests.conftest import GERMAN_CREDIT

RACERS = 8


@pytest.fixture
def root(stack, monkeypatch):
    """A store of its own under the data bucket, so tests do not see each other's datasets."""
    uri = f"s3://kfp-mlops-data/datasets-{uuid.uuid4().hex[:8]}/"
    monkeypatch.setenv(refs.ROOT_ENV, uri)
    return uri


def _stored(root: str) -> dict[str, str]:
    """Every object under the store and its ETag: what a refused step must leave as it was."""
    bucket, _, prefix = root.removeprefix("s3://").partition("/")
    return {o.object_name: o.etag for o in s3_client().list_objects(bucket, prefix, True)}


def _overwrite(uri: str, data: bytes) -> None:
    bucket, key = parse_s3_uri(uri)
    s3_client().put_object(bucket, key, io.BytesIO(data), len(data))


def _csv(tmp_path, name: str, ages: list[int]):
    path = tmp_path / name
    pd.DataFrame({"age": ages, "y": [a % 2 for a in ages]}).to_csv(path, index=False)
    return path


@pytest.fixture
def log(tmp_path):
    """A prediction-log-like folder: two days, two Parquet parts each."""
    folder = tmp_path / "log"
    for day in ("2026-03-01", "2026-03-02"):
        for n in range(2):
            part = folder / f"date={day}" / f"part-{n}.parquet"
            part.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"x": [float(n), 2.0 + n], "request_id": [f"{day}-{n}"] * 2}).to_parquet(
                part, index=False
            )
    return folder


# -- tags: concurrent moves ----------------------------------------------------------------------


def test_tag_race_every_move_recorded_once_in_seq_order(root, tmp_path):
    shas = [
        store.add(str(_csv(tmp_path, f"v{i}.csv", [20 + i, 30 + i])), "race")[0]["sha256"]
        for i in range(RACERS)
    ]
    start, moves, errors = threading.Barrier(RACERS), [None] * RACERS, []

    def racer(i: int) -> None:
        start.wait()
        try:
            moves[i] = store.move_tag("race", "prod", shas[i], user=f"racer-{i}")
        except Exception as exc:  # surfaced below: a lost move must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    history = store.tag_history("race", "prod")
    assert [m["seq"] for m in history] == list(range(1, RACERS + 1))  # no gap, no overwrite
    assert sorted(m["to"] for m in history) == sorted(shas)  # each move recorded once
    assert sorted(m["seq"] for m in moves) == list(range(1, RACERS + 1))  # as each racer saw it
    chain = [None] + [m["to"] for m in history[:-1]]
    assert [m["from"] for m in history] == chain  # each move starts where the last one ended
    assert store.tags("race")["prod"] == history[-1]["to"]


def test_data_tag_moves_says_from_to_and_already_there(cli, root, tmp_path):
    first, _ = store.add(str(_csv(tmp_path, "a.csv", [1, 2])), "credit", tag="prod")
    second, _ = store.add(str(_csv(tmp_path, "b.csv", [3, 4])), "credit")
    code, out, err = cli("data", "tag", f"credit@sha256:{second['sha256']}", "prod")
    assert code == 0, err
    assert f"sha256:{first['sha256']} -> sha256:{second['sha256']} (move 2, recorded)" in out
    code, out, _ = cli("data", "tag", "credit@prod", "stable")  # a tag names the version too
    assert code == 0 and f"(new tag) -> sha256:{second['sha256']} (move 1" in out
    before = _stored(root)
    code, out, _ = cli("data", "tag", f"credit@sha256:{second['sha256']}", "prod")
    assert code == 0 and "already there" in out and "nothing recorded" in out
    assert _stored(root) == before


@pytest.mark.parametrize(
    ("reference", "match"),
    [
        (f"credit@sha256:{'0' * 64}", "has no version sha256:0+"),
        ("credit@nosuch", "has no tag 'nosuch'"),
        ("nosuch@prod", "unknown dataset 'nosuch'"),
    ],
)
def test_data_tag_of_what_does_not_exist_records_nothing(cli, root, tmp_path, reference, match):
    store.add(str(_csv(tmp_path, "a.csv", [1, 2])), "credit", tag="prod")
    before = _stored(root)
    code, _, err = cli("data", "tag", reference, "prod")
    assert code != 0 and re.search(match, err), err
    assert _stored(root) == before


# -- data add of a folder: streamed, every part listed ---------------------------------------------


def test_data_add_folder_stores_one_parquet_listing_every_part(cli, root, log):
    code, out, err = cli("data", "add", str(log), "--name", "log", "--tag", "week")
    assert code == 0, err
    assert "read 4/4 parts" in err  # progress on stderr, stdout stays the result
    reference = out.splitlines()[-1]
    found = json.loads(cli("data", "show", reference)[1])["manifest"]
    assert found["format"] == "parquet" and found["rows"] == 8
    assert found["columns"] == ["x", "request_id"]
    parts = sorted(log.rglob("*.parquet"))
    listed = found["sources"][0]["parts"]
    assert [p["uri"] for p in listed] == [str(p) for p in parts]
    assert [p["sha256"] for p in listed] == [
        hashlib.sha256(p.read_bytes()).hexdigest() for p in parts
    ]
    data, _ = store.read_verified(reference)  # the stored Parquet is what its hash says
    assert hashlib.sha256(data).hexdigest() == found["sha256"]
    stored = pd.read_parquet(io.BytesIO(data))
    assert found["dtypes"] == {str(c): str(t) for c, t in stored.dtypes.items()}
    before = _stored(root)
    code, out, _ = cli("data", "add", str(log), "--name", "log")
    assert code == 0 and "already stored, unchanged" in out and out.splitlines()[-1] == reference
    assert _stored(root) == before


def test_data_add_folder_of_two_schemas_stores_nothing(cli, root, log):
    pd.DataFrame({"other": [1]}).to_parquet(log / "date=2026-03-02" / "part-9.parquet")
    code, _, err = cli("data", "add", str(log), "--name", "log")
    assert code != 0 and "part-9.parquet" in err, err
    assert _stored(root) == {}


# -- load_data stores its snapshot ----------------------------------------------------------------


def test_load_data_stores_a_file_as_its_bytes_once(root, tmp_path):
    snap = snapshot(str(GERMAN_CREDIT), tmp_path / "a.parquet", dataset_name="credit")
    digest = hashlib.sha256(GERMAN_CREDIT.read_bytes()).hexdigest()
    assert snap.sha256 == digest
    assert snap.dataset_version == f"dataset://credit@sha256:{digest}"
    assert snap.metadata()["dataset_version"] == snap.dataset_version
    found = store.manifest("credit", digest)
    assert found["sources"] == [{"uri": str(GERMAN_CREDIT), "sha256": digest}]
    assert found["rows"] == 1000 and found["time_window"] is None and found["created_by"]
    before = _stored(root)
    again = snapshot(str(GERMAN_CREDIT), tmp_path / "b.parquet", dataset_name="credit")
    assert again.dataset_version == snap.dataset_version and _stored(root) == before


def test_load_data_stores_a_window_of_the_log_as_its_snapshot(root, tmp_path, log):
    window = DateWindow.of("2026-03-02", "2026-03-02", 0)
    out = tmp_path / "snap.parquet"
    snap = snapshot(f"{log}/", out, window=window, dataset_name="served", user="nightly")
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    assert snap.dataset_version == f"dataset://served@sha256:{sha}"  # the Parquet written
    found = store.manifest("served", sha)
    assert found["time_window"] == {"start": "2026-03-02", "end": "2026-03-02"}
    assert found["created_by"] == "nightly" and found["rows"] == 4
    (source,) = found["sources"]
    assert source["sha256"] == snap.sha256  # the hash load_data computed over the parts
    assert [p["uri"].rpartition("log/")[2] for p in source["parts"]] == [
        "date=2026-03-02/part-0.parquet",
        "date=2026-03-02/part-1.parquet",
    ]


def test_load_data_without_a_name_or_from_a_version_stores_nothing(root, tmp_path):
    plain = snapshot(str(GERMAN_CREDIT), tmp_path / "a.parquet")
    assert plain.dataset_version == "" and "dataset_version" not in plain.metadata()
    assert _stored(root) == {}
    found, _ = store.add(str(GERMAN_CREDIT), "credit", tag="prod")
    before = _stored(root)
    read = snapshot("dataset://credit@prod", tmp_path / "b.parquet", dataset_name="other")
    assert read.dataset_version == found["reference"] and _stored(root) == before


def test_load_data_bad_dataset_name_is_refused_before_reading(root, tmp_path):
    with pytest.raises(Exception, match="bad dataset name 'Bad Name'"):
        snapshot(str(GERMAN_CREDIT), tmp_path / "a.parquet", dataset_name="Bad Name")
    assert _stored(root) == {} and not (tmp_path / "a.parquet").exists()


# -- the champion's reference is its dataset version ------------------------------------------


def _champion(name: str, tags: dict[str, str]) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    client.create_registered_model(name)
    version = client.create_model_version(name, source="s3://mlflow/no-model", tags=tags)
    client.set_registered_model_alias(name, "champion", version.version)


def test_champion_reference_is_its_dataset_version_rechecked_on_read(root, tmp_path, log):
    from components.resolve_reference.core import resolve_reference

    trained = snapshot(f"{log}/", tmp_path / "train.parquet", dataset_name="served")
    name = f"ref-{uuid.uuid4().hex[:8]}"
    tags = {"dataset_uri": f"{log}/", "dataset_sha256": trained.sha256}
    _champion(name, tags | {"dataset_version": trained.dataset_version})
    reference = resolve_reference(name, "")
    assert reference.uri == trained.dataset_version and reference.source == "champion"
    again = snapshot(reference.uri, tmp_path / "ref.parquet", reference.expected_sha256)
    assert again.rows == trained.rows and again.dataset_version == trained.dataset_version

    found = store.manifest("served", reference.expected_sha256)
    _overwrite(found["object"], (tmp_path / "ref.parquet").read_bytes()[:-20])  # tampered
    before = _stored(root)
    with pytest.raises(DataError, match=r"no longer match their hash.*Re-add the original"):
        snapshot(reference.uri, tmp_path / "bad.parquet", reference.expected_sha256)
    assert _stored(root) == before and not (tmp_path / "bad.parquet").exists()


# -- bad references after training -----------------------------------------------------------------


def test_tag_moved_since_training_lineage_keeps_the_version(root, tmp_path):
    first = _csv(tmp_path, "a.csv", [21, 35, 47])
    store.add(str(first), "credit", tag="prod")
    trained = snapshot("dataset://credit@prod", tmp_path / "t.parquet")  # what lineage records
    newer, _ = store.add(str(_csv(tmp_path, "b.csv", [50, 60])), "credit", tag="prod")
    moved = snapshot("dataset://credit@prod", tmp_path / "m.parquet")
    assert moved.dataset_version == newer["reference"] != trained.dataset_version
    assert moved.metadata()["source_uri"] == newer["reference"]  # the output names the version read
    kept = snapshot(trained.dataset_version, tmp_path / "k.parquet", trained.sha256)
    assert kept.rows == 3 and kept.sha256 == trained.sha256
    before = _stored(root)
    with pytest.raises(DataError, match=r"dataset://credit@prod is sha256:.*was expected"):
        snapshot("dataset://credit@prod", tmp_path / "x.parquet", trained.sha256)
    assert _stored(root) == before


def test_a_dataset_that_does_not_exist_is_refused_naming_the_way_out(root, tmp_path):
    store.add(str(GERMAN_CREDIT), "credit", tag="prod")
    before = _stored(root)
    with pytest.raises(DataError, match=r"unknown dataset 'nosuch'; the store has \['credit'\]"):
        snapshot("dataset://nosuch@prod", tmp_path / "a.parquet", dataset_name="credit")
    with pytest.raises(DataError, match=r"has no version sha256:1+; `kfp-mlops data list credit`"):
        snapshot(f"dataset://credit@sha256:{'1' * 64}", tmp_path / "a.parquet")
    assert _stored(root) == before and not (tmp_path / "a.parquet").exists()


def test_data_add_s3_prefix_and_a_large_file_sent_in_parts(cli, root, log, monkeypatch):
    from components._shared.datasets import objects
    from components._shared.io.s3 import upload_file

    prefix = f"s3://kfp-mlops-data/tests/{uuid.uuid4().hex[:8]}/log/"
    parts = sorted(log.rglob("*.parquet"))
    for part in parts:
        upload_file(part, prefix + str(part.relative_to(log)))
    monkeypatch.setattr(objects, "SMALL_BYTES", 64)  # every data file goes as a multipart upload
    code, out, err = cli("data", "add", prefix, "--name", "served")
    assert code == 0, err
    found = json.loads(cli("data", "show", out.splitlines()[-1])[1])["manifest"]
    listed = found["sources"][0]["parts"]
    assert [p["uri"] for p in listed] == [prefix + str(p.relative_to(log)) for p in parts]
    assert [p["sha256"] for p in listed] == [
        hashlib.sha256(p.read_bytes()).hexdigest() for p in parts
    ]
    data, _ = store.read_verified(found["reference"])
    assert hashlib.sha256(data).hexdigest() == found["sha256"] and found["rows"] == 8
    before = _stored(root)
    code, out, _ = cli("data", "add", prefix, "--name", "served")
    assert code == 0 and "already stored, unchanged" in out and _stored(root) == before


# -- what the store holds, changed by hand: refused by name, nothing parsed beyond the limit ------


def test_a_damaged_manifest_or_tag_record_is_refused_naming_it(root, tmp_path):
    found, _ = store.add(str(GERMAN_CREDIT), "credit", tag="prod")
    _overwrite(refs.manifest_uri("credit", found["sha256"]), b"{not json")
    with pytest.raises(DataError, match=r"the manifest .*manifest.json is damaged.*by hand"):
        store.versions("credit")
    with pytest.raises(DataError, match=r"the manifest .* is damaged"):
        snapshot(found["reference"], tmp_path / "a.parquet")
    _overwrite(f"{root}credit/tags/prod/stray.json", json.dumps({"to": "x"}).encode())
    with pytest.raises(DataError, match=r"stray.json is no tag record .*NNNNNNNN.json"):
        store.tags("credit")


def test_a_manifest_pointing_elsewhere_or_a_tag_at_no_version_reads_nothing(root, tmp_path):
    found, _ = store.add(str(GERMAN_CREDIT), "credit", tag="prod")
    uri = refs.manifest_uri("credit", found["sha256"])
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_bytes(GERMAN_CREDIT.read_bytes())  # the right bytes, at a place of its own
    _overwrite(uri, json.dumps(found | {"object": str(elsewhere)}).encode())
    with pytest.raises(DataError, match=r"manifest .* is damaged \(it names .*elsewhere.csv"):
        store.read_verified(found["reference"])
    with pytest.raises(DataError, match=r"not this version's own bytes"):
        snapshot(found["reference"], tmp_path / "a.parquet")
    assert not (tmp_path / "a.parquet").exists()
    _overwrite(f"{root}credit/tags/prod/00000002.json", json.dumps({"to": "../x"}).encode())
    with pytest.raises(DataError, match=r"00000002.json points at no version \('../x'\)"):
        store.resolve("dataset://credit@prod")


def test_a_stored_record_over_the_input_limit_is_refused_by_its_size(root, monkeypatch):
    found, _ = store.add(str(GERMAN_CREDIT), "credit")
    monkeypatch.setenv("KFP_MLOPS_MAX_INPUT_BYTES", "16")
    with pytest.raises(DataError, match=r"manifest.json: it is .* over the input limit"):
        store.manifest("credit", found["sha256"])
