"""Bad input files: each refused by load_data with the file/column and the way out, nothing written.

Every case runs the component (python_func, real Dataset output) against the real embedded
stack and compares a listing of every S3 bucket before and after: a refusal writes nothing.
"""

import io
import json
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kfp import dsl

from components._shared.errors import ConfigError, DataError
from components._shared.input_checks import (
    MAX_INPUT_ENV,
    human_size,
    input_limit_bytes,
    memory_limit_bytes,
)
from components._shared.io import read_parquet, s3_client, upload_file
from components.load_data import component
from tests.conftest import NO_WINDOW

pytestmark = pytest.mark.usefixtures("stack")

BUCKET = "kfp-mlops-data"
LATIN1 = "name,city\nJürgen,Köln\nAnna,Bonn\n".encode("latin-1")


def _listing() -> list[tuple]:
    """Every object in every bucket, with its etag and size."""
    client = s3_client()
    return sorted(
        (b.name, o.object_name, o.etag, o.size)
        for b in client.list_buckets()
        for o in client.list_objects(b.name, recursive=True)
    )


def _s3_put(data: bytes, name: str) -> str:
    uri = f"s3://{BUCKET}/bad-files/{uuid.uuid4().hex[:8]}/{name}"
    s3_client().put_object(BUCKET, uri.split("/", 3)[3], io.BytesIO(data), len(data))
    return uri


def _load(uri: str, tmp_path) -> dsl.Dataset:
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    component.load_data.python_func(
        data_uri=uri, expected_sha256="", **NO_WINDOW, dataset_name="", dataset=dataset
    )
    return dataset


def _refused(uri: str, tmp_path, *fragments: str, error: type = DataError) -> str:
    """Run load_data on `uri`; assert it fails naming every fragment, writing nothing anywhere."""
    before = _listing()
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    with pytest.raises(error) as info:
        component.load_data.python_func(
            data_uri=uri,
            expected_sha256="",
            **NO_WINDOW,
            dataset_name="",
            dataset=dataset,
        )
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert not (tmp_path / "dataset").exists() and dataset.metadata == {}
    assert _listing() == before, "a refused input changed S3"
    return message


def _csv(tmp_path, data: bytes, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# Encodings


def test_bad_file_latin1_csv_says_encoding_names_byte_line_and_resave_as_utf8(tmp_path):
    path = _csv(tmp_path, LATIN1)
    _refused(path, tmp_path, path, "encoding", "byte 0xfc on line 2", "re-save it as UTF-8")


def test_bad_file_latin1_header_is_an_encoding_error_not_a_column_error(tmp_path):
    path = _csv(tmp_path, "größe,x\n1,2\n".encode("latin-1"))
    _refused(path, tmp_path, path, "encoding", "line 1", "re-save it as UTF-8")


def test_bad_file_latin1_csv_in_s3_names_the_object(tmp_path):
    uri = _s3_put(LATIN1, "latin1.csv")
    _refused(uri, tmp_path, uri, "wrong text encoding", "re-save it as UTF-8")


# Delimiters


def test_bad_file_semicolon_csv_read_as_one_column_says_semicolon(tmp_path):
    path = _csv(tmp_path, b"age;city;score\n31;Bonn;0,5\n45;Ulm;1,25\n")
    _refused(
        path, tmp_path, path, "semicolon-separated", "1 column(s)", "with ',' as the delimiter"
    )


def test_bad_file_tab_separated_csv_says_tab(tmp_path):
    path = _csv(tmp_path, b"age\tcity\n31\tBonn\n")
    _refused(path, tmp_path, path, "tab-separated", "re-save it with ','")


# Column names


def test_bad_file_duplicate_csv_columns_named_not_renamed_to_a_1(tmp_path):
    path = _csv(tmp_path, b"a,b,a,c,b\n1,2,3,4,5\n")
    _refused(path, tmp_path, path, "['a', 'b'] appear more than once", "rename them")


def test_bad_file_duplicate_parquet_columns_are_named(tmp_path):
    table = pa.table([pa.array([1]), pa.array([2])], names=["age", "age"])
    pq.write_table(table, tmp_path / "dup.parquet")
    path = str(tmp_path / "dup.parquet")
    _refused(path, tmp_path, path, "['age'] appear more than once", "rename them")


def test_bad_file_empty_column_name_gives_its_position(tmp_path):
    path = _csv(tmp_path, b"a,,c,  \n1,2,3,4\n")
    _refused(path, tmp_path, path, "column(s) [2, 4] (1-based) have no name", "name every column")


def test_bad_file_csv_saved_with_its_index_says_index_false(tmp_path):
    path = tmp_path / "indexed.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(path)  # the index column has an empty header
    _refused(str(path), tmp_path, str(path), "column(s) [1]", "save it with index=False")


def test_bad_file_unicode_column_names_work_local_and_in_s3(tmp_path):
    frame = pd.DataFrame({"größe": [1.5, 2.0], "年龄": [31, 45], "état civil": ["a", "b"]})
    path = tmp_path / "unicode.csv"
    frame.to_csv(path, index=False, encoding="utf-8")
    dataset = _load(str(path), tmp_path / "local")
    assert dataset.metadata["columns"] == ["größe", "年龄", "état civil"]
    pd.testing.assert_frame_equal(pd.read_parquet(dataset.path), frame)
    uri = _s3_put(path.read_bytes(), "unicode.csv")
    remote = _load(uri, tmp_path / "s3")
    assert remote.metadata["sha256"] == dataset.metadata["sha256"]
    pq_path = tmp_path / "unicode.parquet"
    frame.to_parquet(pq_path, index=False)
    assert _load(str(pq_path), tmp_path / "pq").metadata["columns"] == list(frame.columns)


def test_bad_file_utf8_bom_is_not_part_of_the_first_column_name(tmp_path):
    path = _csv(tmp_path, "\ufeffage,city\n31,Bonn\n".encode())
    assert _load(path, tmp_path).metadata["columns"] == ["age", "city"]


# Parquet parts of different schemas under one prefix


def _write_parts(folder, *frames) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        frame.to_parquet(folder / f"part-{i:03d}.parquet", index=False)


BASE = pd.DataFrame({"age": [31, 45], "city": ["Bonn", "Ulm"]})


def test_bad_file_parts_with_an_extra_column_name_the_part_and_column(tmp_path):
    folder = tmp_path / "parts"
    _write_parts(folder, BASE, BASE, BASE.assign(income=[1.0, 2.0]))
    _refused(
        str(folder),
        tmp_path,
        f"part {folder}/part-002.parquet has another schema than {folder}/part-000.parquet",
        "extra ['income']",
        "one schema",
    )


def test_bad_file_parts_with_a_missing_column_are_refused(tmp_path):
    folder = tmp_path / "parts"
    _write_parts(folder, BASE, BASE[["age"]])
    _refused(str(folder), tmp_path, "part-001.parquet", "missing ['city']", "one schema")


def test_bad_file_s3_parts_with_another_column_type_name_it(tmp_path):
    folder = tmp_path / "parts"
    _write_parts(folder, BASE, BASE.assign(age=["31", "45"]))
    prefix = f"s3://{BUCKET}/bad-files/{uuid.uuid4().hex[:8]}/parts/"
    for part in sorted(folder.iterdir()):
        upload_file(part, prefix + part.name)
    _refused(
        prefix,
        tmp_path,
        prefix,
        f"{prefix}part-001.parquet",
        "other types ['age: string (first part: int64)']",
    )


def test_bad_file_parts_with_an_all_null_column_or_other_string_width_concatenate(tmp_path):
    folder = tmp_path / "parts"
    narrow = pa.table({"age": [60, 38], "city": pa.array(["Ulm", "Bonn"], pa.string())})
    _write_parts(folder, BASE, BASE.assign(city=[None, None]))
    pq.write_table(narrow, folder / "part-002.parquet")  # pandas 3 writes large_string
    dataset = _load(str(folder), tmp_path)
    assert dataset.metadata["rows"] == 6 and dataset.metadata["columns"] == ["age", "city"]


# Size, checked before reading


def test_bad_file_local_file_over_the_default_limit_refused_from_its_size(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as handle:  # sparse: 1 TiB that takes no disk, and cannot be read
        handle.truncate(1 << 40)
    _refused(
        str(path),
        tmp_path,
        str(path),
        "1024.0 GiB",
        f"over the input limit of {human_size(input_limit_bytes())}",
        "1/4 of memory",
        f"set {MAX_INPUT_ENV}",
    )


def test_bad_file_s3_object_over_the_limit_names_size_limit_and_variable(tmp_path, monkeypatch):
    uri = _s3_put(b"a,b\n" + b"1,2\n" * 100, "big.csv")
    monkeypatch.setenv(MAX_INPUT_ENV, "300")
    _refused(uri, tmp_path, uri, "404 bytes", "limit of 300 bytes", MAX_INPUT_ENV, "more memory")


def test_bad_file_s3_prefix_over_the_limit_streams_and_its_snapshot_is_refused_whole(
    tmp_path, monkeypatch
):
    folder = tmp_path / "parts"
    _write_parts(folder, BASE, BASE, BASE)
    prefix = f"s3://{BUCKET}/bad-files/{uuid.uuid4().hex[:8]}/parts/"
    for part in sorted(folder.iterdir()):
        upload_file(part, prefix + part.name)
        assert part.stat().st_size > 100
    # Under the size of any part: the streamed copy needs no more memory than a batch.
    monkeypatch.setenv(MAX_INPUT_ENV, "100")
    dataset = _load(prefix, tmp_path)
    assert dataset.metadata["rows"] == 6
    assert pq.ParquetFile(dataset.path).num_row_groups == 3  # one per part's batch
    # A step that reads the snapshot whole (training) is still refused from its size.
    with pytest.raises(DataError, match=rf"cannot read {dataset.path}: it is .* {MAX_INPUT_ENV}"):
        read_parquet(dataset.path)


@pytest.mark.parametrize("raw", ["lots", "0", "-5", "1.5e9"])
def test_bad_file_limit_variable_that_is_not_a_size_is_a_config_error(tmp_path, monkeypatch, raw):
    path = _csv(tmp_path, b"a\n1\n")
    monkeypatch.setenv(MAX_INPUT_ENV, raw)
    _refused(path, tmp_path, f"{MAX_INPUT_ENV}={raw!r} is not a size", error=ConfigError)


def test_bad_file_default_limit_is_a_quarter_of_the_cgroup_memory_limit(tmp_path, monkeypatch):
    monkeypatch.delenv(MAX_INPUT_ENV, raising=False)
    cgroup = tmp_path / "memory.max"
    cgroup.write_text("4294967296\n")
    assert memory_limit_bytes(cgroup) == 4 << 30 and input_limit_bytes(cgroup) == 1 << 30
    cgroup.write_text("max\n")  # no limit set: the machine's memory
    assert memory_limit_bytes(cgroup) > 0
    assert memory_limit_bytes(cgroup) == memory_limit_bytes(tmp_path / "absent")


# URIs: bucket, key, prefix, scheme


def test_bad_file_s3_missing_bucket_says_check_the_bucket_name(tmp_path):
    uri = f"s3://no-such-bucket-{uuid.uuid4().hex[:12]}/data.csv"
    _refused(uri, tmp_path, f"cannot read {uri}: no such bucket", "check the bucket name")


def test_bad_file_s3_missing_key_says_check_the_key(tmp_path):
    uri = f"s3://{BUCKET}/bad-files/{uuid.uuid4().hex}/absent.csv"
    _refused(uri, tmp_path, f"cannot read {uri}: no such object", "check the key")


def test_bad_file_s3_prefix_with_no_parts_says_give_a_file_or_parts(tmp_path):
    uri = _s3_put(b"a\n1\n", "notes.csv").rsplit("/", 1)[0] + "/"  # a CSV, no Parquet
    _refused(uri, tmp_path, f"{uri} holds no .parquet files", "give a file or a prefix")


@pytest.mark.parametrize(
    "uri", ["gs://bucket/data.csv", "http://example.com/data.csv", "HTTPS://host/d.parquet"]
)
def test_bad_file_unsupported_scheme_refused_before_any_network_call(tmp_path, monkeypatch, uri):
    before = _listing()
    scheme = uri.split("://")[0] + "://"
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    with monkeypatch.context() as patch:
        # With S3 unconfigured, any attempt to reach a service would fail differently.
        for name in ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.delenv(name, raising=False)
        with pytest.raises(DataError) as info:
            component.load_data.python_func(
                data_uri=uri,
                expected_sha256="",
                **NO_WINDOW,
                dataset_name="",
                dataset=dataset,
            )
    message = str(info.value)
    assert f"cannot read {uri}: unsupported scheme {scheme!r}" in message
    assert "expected s3://BUCKET/KEY" in message and "copy the data into the S3 store" in message
    assert not (tmp_path / "dataset").exists() and _listing() == before


def test_bad_file_drift_reader_refuses_an_unsupported_scheme_too(monkeypatch):
    from components._shared.io.sources import open_source

    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")  # any request would fail differently
    with pytest.raises(DataError, match=r"cannot read gs://b/ref\.parquet: unsupported scheme"):
        open_source("gs://b/ref.parquet", "reference")


@pytest.mark.parametrize(
    ("content", "expected"),
    [(LATIN1, "re-save it as UTF-8"), (b"age;risk\n31;1\n", "semicolon-separated")],
)
def test_bad_file_training_run_fails_exit_1_at_load_data_registry_and_s3_unchanged(
    cli, tmp_path, content, expected
):
    from mlflow import MlflowClient

    path = _csv(tmp_path, content)
    model = f"bad-file-{uuid.uuid4().hex[:6]}"

    def registry():
        return sorted((v.name, v.version) for v in MlflowClient().search_model_versions())

    before, versions = _listing(), registry()
    code, out, _ = cli(
        "run-local", "training", "--output", "json", "-p", f"data_uri={path}",
        "-p", f"model_name={model}",
    )  # fmt: skip
    summary = json.loads(out)
    assert code == 1 and summary["status"] == "failed" and summary["failed_task"] == "load-data"
    assert path in summary["error"] and expected in summary["error"]
    assert summary["model"] is None
    assert _listing() == before
    assert registry() == versions
