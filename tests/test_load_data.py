"""load_data: snapshots of local and S3 tables, their content hash and schema, every bad input."""

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kfp import dsl

from components._shared.errors import ConfigError, DataError, ServiceError
from components._shared.input_checks import MAX_INPUT_ENV
from components._shared.io import upload_file
from components._shared.io.partitions import DateWindow
from components._shared.io.sources import BATCH_ROWS
from components.load_data import component
from components.load_data.core import snapshot
from tests.conftest import GERMAN_CREDIT, NO_WINDOW, free_port

METADATA_KEYS = {"source_uri", "sha256", "rows", "columns", "dtypes"}


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def take(uri, expected_sha256=""):
    """The core's snapshot written to a fresh file, with the frame read back from that file."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "snapshot.parquet"
        snap = snapshot(str(uri), out, expected_sha256)
        return SimpleNamespace(**vars(snap), metadata=snap.metadata, frame=pd.read_parquet(out))


@pytest.fixture
def tiny_csv(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("age,city,score\n31,Bonn,0.5\n45,Köln,1.25\n22,Bonn,2.0\n", encoding="utf-8")
    return path


def test_load_data_local_csv_snapshot_known_answer(tiny_csv):
    snap = take(str(tiny_csv))
    assert snap.rows == 3
    assert snap.columns == ("age", "city", "score")
    assert snap.dtypes == {"age": "int64", "city": "str", "score": "float64"}
    assert snap.sha256 == sha256_of(tiny_csv)
    assert snap.uri == str(tiny_csv)
    assert snap.frame["city"].tolist() == ["Bonn", "Köln", "Bonn"]


def test_load_data_hash_is_of_the_source_bytes_so_one_byte_changes_it(tiny_csv, tmp_path):
    other = tmp_path / "other.csv"
    other.write_bytes(tiny_csv.read_bytes().replace(b"0.5", b"0.6"))
    assert take(str(other)).sha256 != take(str(tiny_csv)).sha256
    assert take(str(other)).sha256 == sha256_of(other)


def test_load_data_local_parquet_snapshot_keeps_dtypes(tmp_path):
    frame = pd.DataFrame({"n": [1, 2], "flag": [True, False], "name": ["a", "b"]})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path, index=False)
    snap = take(str(path))
    assert snap.dtypes == {"n": "int64", "flag": "bool", "name": "str"}
    assert snap.sha256 == sha256_of(path)
    pd.testing.assert_frame_equal(snap.frame, frame)


def test_load_data_file_uri_reads_the_same_file(tiny_csv):
    assert take(f"file://{tiny_csv}").sha256 == sha256_of(tiny_csv)


def test_load_data_german_credit_has_1000_rows_and_10_columns():
    snap = take(str(GERMAN_CREDIT))
    assert (snap.rows, len(snap.columns)) == (1000, 10)
    assert snap.columns[0] == "risk"
    assert snap.dtypes["risk"] == "int64" and snap.dtypes["purpose"] == "str"


def test_load_data_metadata_holds_exactly_the_contract_keys(tiny_csv):
    meta = take(str(tiny_csv)).metadata()
    assert set(meta) == METADATA_KEYS
    assert meta["columns"] == ["age", "city", "score"]
    assert meta["rows"] == 3


def test_load_data_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=re.escape(f"cannot read {missing}: no such file")):
        take(str(missing))


def test_load_data_empty_file_says_it_is_empty(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="is empty: expected a header and at least one row"):
        take(str(path))


def test_load_data_header_only_file_says_no_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b,c\n")
    with pytest.raises(DataError, match=r"has a header but no rows \(3 columns\)"):
        take(str(path))


def test_load_data_unknown_format_lists_the_known_suffixes(tmp_path):
    path = tmp_path / "table.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(DataError, match=r"unknown format '.xlsx'; expected one of \['.csv'"):
        take(str(path))


def test_load_data_corrupt_parquet_says_it_cannot_parse(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(DataError, match=r"cannot parse .*broken\.parquet as parquet"):
        take(str(path))


def test_load_data_folder_without_parquet_is_refused(tmp_path):
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    (folder / "notes.csv").write_text("a\n1\n")
    with pytest.raises(DataError, match=r"dir\.csv holds no \.parquet files"):
        take(str(folder))


def _parts(folder, frame, sizes=(3, 2)):
    """Write `frame` as Parquet parts of the given sizes, named so name order = row order."""
    folder.mkdir(parents=True, exist_ok=True)
    start = 0
    for i, size in enumerate(sizes):
        frame.iloc[start : start + size].to_parquet(folder / f"part-{i:03d}.parquet", index=False)
        start += size
    return folder


FRAME = pd.DataFrame({"age": [31, 45, 22, 60, 38], "city": ["Bonn", "Köln", "Bonn", "Ulm", "Ulm"]})


def test_load_data_folder_of_parquet_parts_is_one_table_in_name_order(tmp_path):
    folder = _parts(tmp_path / "parts", FRAME)
    (folder / "_SUCCESS").write_text("")  # not Parquet: ignored
    snap = take(str(folder))
    pd.testing.assert_frame_equal(snap.frame, FRAME)
    assert snap.rows == 5 and snap.columns == ("age", "city") and snap.uri == str(folder)
    assert snap.sha256 == take(str(folder)).sha256  # deterministic


def test_load_data_folder_hash_is_the_recorded_scheme_of_names_and_bytes(tmp_path):
    # Registered champions carry hashes of this scheme: streaming must not change it.
    folder = _parts(tmp_path / "parts", FRAME)
    digest = hashlib.sha256()
    for part in sorted(folder.iterdir()):
        name, data = part.name.encode(), part.read_bytes()
        for chunk in (len(name).to_bytes(8, "big"), name, len(data).to_bytes(8, "big"), data):
            digest.update(chunk)
    assert take(folder).sha256 == digest.hexdigest()


def test_load_data_folder_hash_changes_with_any_part_and_not_with_the_location(tmp_path):
    first = take(str(_parts(tmp_path / "a", FRAME))).sha256
    assert take(str(_parts(tmp_path / "b" / "copy", FRAME))).sha256 == first
    assert take(str(_parts(tmp_path / "c", FRAME, sizes=(2, 3)))).sha256 != first
    changed = FRAME.assign(age=[31, 45, 22, 60, 39])
    assert take(str(_parts(tmp_path / "d", changed))).sha256 != first


def test_load_data_s3_without_configuration_names_the_missing_variables(monkeypatch):
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ServiceError, match="S3 is not configured: set AWS_ENDPOINT_URL_S3"):
        take("s3://bucket/data.csv")


def test_load_data_s3_endpoint_unreachable_names_the_endpoint(monkeypatch):
    port = free_port()  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-not-shown")
    with pytest.raises(
        ServiceError, match=rf"S3 endpoint http://127.0.0.1:{port} is unreachable"
    ) as info:
        take("s3://bucket/data.csv")
    assert "secret-not-shown" not in str(info.value)


def test_load_data_component_writes_parquet_and_metadata(tiny_csv, tmp_path):
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    component.load_data.python_func(
        data_uri=str(tiny_csv),
        expected_sha256="",
        **NO_WINDOW,
        dataset_name="",
        dataset=dataset,
    )
    written = pd.read_parquet(dataset.path)
    pd.testing.assert_frame_equal(written, pd.read_csv(tiny_csv))
    assert set(dataset.metadata) == METADATA_KEYS
    assert dataset.metadata["source_uri"] == str(tiny_csv)
    assert dataset.metadata["sha256"] == sha256_of(tiny_csv)
    assert dataset.metadata["rows"] == 3
    assert dataset.metadata["dtypes"] == {"age": "int64", "city": "str", "score": "float64"}


def test_load_data_component_bad_input_fails_and_writes_nothing(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b\n")
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    with pytest.raises(DataError, match="header but no rows"):
        component.load_data.python_func(
            data_uri=str(path),
            expected_sha256="",
            **NO_WINDOW,
            dataset_name="",
            dataset=dataset,
        )
    assert not (tmp_path / "dataset").exists()
    assert dataset.metadata == {}


def test_load_data_s3_object_snapshot_equals_the_local_file(stack):
    uri = f"s3://kfp-mlops-data/tests/{uuid.uuid4().hex}/german_credit.csv"
    upload_file(GERMAN_CREDIT, uri)
    snap = take(uri)
    assert snap.sha256 == sha256_of(GERMAN_CREDIT)
    assert snap.uri == uri
    pd.testing.assert_frame_equal(snap.frame, pd.read_csv(GERMAN_CREDIT))


def test_load_data_s3_component_records_the_s3_uri(stack, tmp_path):
    uri = f"s3://kfp-mlops-data/tests/{uuid.uuid4().hex}/german_credit.csv"
    upload_file(GERMAN_CREDIT, uri)
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    component.load_data.python_func(
        data_uri=uri, expected_sha256="", **NO_WINDOW, dataset_name="", dataset=dataset
    )
    assert dataset.metadata["source_uri"] == uri
    assert dataset.metadata["rows"] == 1000
    assert len(pd.read_parquet(dataset.path)) == 1000


def test_load_data_s3_missing_key_names_the_uri(stack):
    uri = f"s3://kfp-mlops-data/tests/{uuid.uuid4().hex}/absent.csv"
    upload_file(GERMAN_CREDIT, f"s3://kfp-mlops-data/tests/{uuid.uuid4().hex}/present.csv")
    with pytest.raises(DataError, match=re.escape(f"cannot read {uri}: no such object")):
        take(uri)


def test_load_data_s3_missing_bucket_names_the_uri(stack):
    uri = f"s3://no-such-bucket-{uuid.uuid4().hex[:12]}/data.csv"
    with pytest.raises(DataError, match=re.escape(f"cannot read {uri}: no such bucket")):
        take(uri)


def test_load_data_s3_prefix_of_parquet_parts_equals_the_local_folder(stack, tmp_path):
    folder = _parts(tmp_path / "parts", FRAME)
    prefix = f"s3://kfp-mlops-data/tests/{uuid.uuid4().hex[:8]}/recent/"
    for part in sorted(folder.iterdir()):
        upload_file(part, prefix + part.name)
    remote, local = take(prefix), take(str(folder))
    pd.testing.assert_frame_equal(remote.frame, FRAME)
    assert remote.sha256 == local.sha256 and remote.uri == prefix


def test_load_data_s3_prefix_without_parquet_says_so(stack):
    prefix = f"s3://kfp-mlops-data/tests/{uuid.uuid4().hex[:8]}/empty/"
    with pytest.raises(DataError, match=r"holds no \.parquet files"):
        take(prefix)


def test_load_data_pinned_hash_matches_snapshot_proceeds(tiny_csv):
    assert take(str(tiny_csv), sha256_of(tiny_csv)).rows == 3


def test_load_data_pinned_file_changed_names_uri_both_hashes_and_the_way_out(tiny_csv, tmp_path):
    recorded = sha256_of(tiny_csv)
    tiny_csv.write_bytes(tiny_csv.read_bytes().replace(b"0.5", b"0.6"))
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    with pytest.raises(DataError) as info:
        component.load_data.python_func(
            data_uri=str(tiny_csv),
            expected_sha256=recorded,
            **NO_WINDOW,
            dataset_name="",
            dataset=dataset,
        )
    message = str(info.value)
    assert f"the content of {tiny_csv} changed" in message
    assert recorded in message and sha256_of(tiny_csv) in message
    assert "restore the original bytes" in message and "give reference_uri" in message
    assert not (tmp_path / "dataset").exists() and dataset.metadata == {}


def test_load_data_pinned_folder_with_one_part_replaced_is_refused(tmp_path):
    folder = _parts(tmp_path / "parts", FRAME)
    recorded = take(str(folder)).sha256
    FRAME.iloc[3:].assign(age=[61, 38]).to_parquet(folder / "part-001.parquet", index=False)
    with pytest.raises(DataError, match=rf"changed: its sha256 is \w+, but {recorded} was"):
        take(str(folder), recorded)


# Bounded memory: a prefix far larger than the input limit is copied batch by batch

# Peak RSS from VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through
# fork and exec, so a child of a large pytest process would report the parent's peak.
GROWTH_SCRIPT = """
import re, sys
from components.load_data.core import snapshot
import pyarrow, pyarrow.parquet  # what the copy imports, counted before the baseline
def peak():
    status = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024
before = peak()
snap = snapshot(sys.argv[1], sys.argv[2])
print(snap.rows, snap.row_groups, peak() - before)
"""


def _copy_in_a_subprocess(folder, out) -> tuple[int, int, int]:
    """Rows, row groups and peak-RSS growth of load_data's core copying `folder` to `out`."""
    env = {**os.environ, MAX_INPUT_ENV: str(1 << 20)}  # a 1 MiB budget: far below the data
    done = subprocess.run(
        [sys.executable, "-c", GROWTH_SCRIPT, str(folder), str(out)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows, groups, growth = map(int, done.stdout.split())
    return rows, groups, growth


def _float_parts(folder, parts: int, rows_per_part: int) -> int:
    """Parts of 10 random float64 columns, one row group each; their bytes as a table."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(parts):
        columns = {f"x{c}": rng.random(rows_per_part) for c in range(10)}
        pq.write_table(pa.table(columns), folder / f"part-{i:03d}.parquet")
    return parts * rows_per_part * 10 * 8


def test_load_data_prefix_over_the_memory_budget_streams_in_bounded_memory(tmp_path):
    rows_per_part = 250_000  # one row group of 20 MB per part
    small = _float_parts(tmp_path / "small", 2, rows_per_part)
    large = _float_parts(tmp_path / "large", 10, rows_per_part)  # 200 MB as a table
    _, _, small_growth = _copy_in_a_subprocess(tmp_path / "small", tmp_path / "small.parquet")
    out = tmp_path / "large.parquet"
    rows, groups, growth = _copy_in_a_subprocess(tmp_path / "large", out)
    assert rows == 10 * rows_per_part == pq.ParquetFile(out).metadata.num_rows
    # One row group per batch, batches of at most BATCH_ROWS rows of each part's row groups.
    assert groups == 10 * -(-rows_per_part // BATCH_ROWS) == pq.ParquetFile(out).num_row_groups
    # Five times the data, the same memory (a whole read would hold 160 MB more at least).
    # The memory itself is a few times one row group: read, decompressed, encoded, written.
    assert small_growth > 0, "peak RSS not measured"
    assert growth - small_growth < (large - small) / 3, (growth >> 20, small_growth >> 20)


def test_load_data_parquet_dtypes_are_those_pandas_reads_the_snapshot_with(tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    typed = {"n": pa.int64(), "flag": pa.bool_(), "name": pa.string(), "x": pa.float64()}
    full = pa.table({"n": [1, 2], "flag": [True, False], "name": ["a", "b"], "x": [0.5, 1.0]})
    holes = pa.table([pa.array([3, None]), pa.array([None, True]), pa.array(["c", None]),
                      pa.array([None, 2.0])], schema=pa.schema(typed))  # fmt: skip
    pq.write_table(full, folder / "part-0.parquet")
    pq.write_table(holes, folder / "part-1.parquet")  # nulls in the second part only
    snap = take(folder)
    assert snap.dtypes == {str(c): str(t) for c, t in snap.frame.dtypes.items()}
    assert snap.dtypes == {"n": "float64", "flag": "object", "name": "str", "x": "float64"}


def _prediction_log(root: Path) -> Path:
    """A prediction-log layout: model/date=YYYY-MM-DD/ folders of Parquet parts."""
    for day, base in (("2026-11-27", 0), ("2026-11-28", 10), ("2026-11-29", 20)):
        folder = root / "german-credit" / f"date={day}"
        folder.mkdir(parents=True)
        for part in range(2):
            rows = pd.DataFrame({"request_id": [f"{day}-{part}"], "age": [base + part]})
            rows.to_parquet(folder / f"17000{part}.parquet", index=False)
    return root / "german-credit"


def test_load_data_date_window_reads_only_those_days_of_a_prediction_log(tmp_path):
    log = _prediction_log(tmp_path)
    window = DateWindow.of("2026-11-28", "2026-11-29", 0)
    with tempfile.TemporaryDirectory() as folder:
        snap = snapshot(f"{log}/", Path(folder) / "s.parquet", "", window)
        ages = pd.read_parquet(Path(folder) / "s.parquet")["age"].tolist()
    assert ages == [10, 11, 20, 21]
    assert snap.metadata()["date_window"] == "2026-11-28..2026-11-29"
    assert snap.sha256 != take(f"{log}/").sha256  # the hash is of what was read
    assert "date_window" not in take(f"{log}/").metadata()


def test_load_data_leaves_out_a_logs_shadow_rows_and_joins_days_from_before_the_endpoint(
    tmp_path,
):
    log = tmp_path / "german-credit"
    before, after = log / "date=2026-11-28", log / "date=2026-11-29"
    before.mkdir(parents=True)
    after.mkdir()
    # A day logged before the `endpoint` column existed, then a day with a shadow beside.
    pd.DataFrame({"request_id": ["a", "b"], "age": [30, 31]}).to_parquet(before / "0.parquet")
    served = pd.DataFrame(
        {"request_id": ["c", "c", "d", "d", "e"], "endpoint": ["primary", "shadow"] * 2 + [None],
         "age": [40, 40, 41, 41, 42]}
    )  # fmt: skip
    served.to_parquet(after / "0.parquet", index=False)
    with tempfile.TemporaryDirectory() as folder:
        snap = snapshot(f"{log}/", Path(folder) / "s.parquet")
        copied = pd.read_parquet(Path(folder) / "s.parquet")
    # Each served request once (a null endpoint is primary), and no endpoint column.
    assert copied["request_id"].tolist() == ["a", "b", "c", "d", "e"]
    assert list(copied.columns) == ["request_id", "age"] and snap.rows == 5


def test_load_data_component_last_days_window_counts_back_from_today(tmp_path):
    log = tmp_path / "m"
    today = datetime.now(UTC).date()
    for back in range(4):
        folder = log / f"date={today - timedelta(days=back)}"
        folder.mkdir(parents=True)
        pd.DataFrame({"back": [back]}).to_parquet(folder / "p.parquet", index=False)
    dataset = dsl.Dataset(uri=str(tmp_path / "out" / "dataset"))
    component.load_data.python_func(
        data_uri=f"{log}/",
        expected_sha256="",
        start_date="",
        end_date="",
        last_days=2,
        dataset_name="",
        dataset=dataset,
    )
    assert sorted(pd.read_parquet(dataset.path)["back"]) == [0, 1]
    assert dataset.metadata["date_window"] == f"{today - timedelta(days=1)}..{today}"


def test_load_data_date_window_on_one_file_is_refused_before_reading(tiny_csv):
    with pytest.raises(ConfigError, match="selects date=YYYY-MM-DD/ folders of a prefix"):
        snapshot(str(tiny_csv), tiny_csv.with_suffix(".out"), "", DateWindow.of("", "", 1))


def test_load_data_a_log_part_whose_endpoint_is_not_text_is_named(tmp_path):
    log = tmp_path / "german-credit" / "date=2026-11-29"
    log.mkdir(parents=True)
    odd = pd.DataFrame({"request_id": ["a"], "endpoint": [1], "age": [30]})
    odd.to_parquet(log / "0.parquet", index=False)
    with tempfile.TemporaryDirectory() as folder, pytest.raises(DataError, match="not text"):
        snapshot(f"{tmp_path / 'german-credit'}/", Path(folder) / "s.parquet")
