"""Versioned label schemas: the store on the real stack, reading versions, accepting labels."""

import json
import re
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components._shared.errors import ConfigError, DataError
from components._shared.io.s3 import s3_client
from components._shared.labels import schemas
from components._shared.labels.accept import accept_labels
from components._shared.labels.read import METADATA_KEY, read_labels

V1 = {
    "target_column": "credit_risk",
    "classes": [{"id": 0, "name": "good"}, {"id": 1, "name": "bad"}],
    "guidelines": "https://example.org/guidelines/v1",
}
# v2 renames "bad" to "high-risk" (keeping its id) and adds "review".
V2 = {
    "target_column": "credit_risk",
    "classes": [
        {"id": 0, "name": "good"},
        {"id": 1, "name": "high-risk"},
        {"id": 2, "name": "review"},
    ],
    "compatible_with": {"version": 1, "mapping": {"bad": "high-risk"}},
}


@pytest.fixture
def store(stack, monkeypatch):
    """A schema store of its own under the data bucket, so tests do not see each other's."""
    uri = f"s3://kfp-mlops-data/label-schemas-{uuid.uuid4().hex[:8]}/"
    monkeypatch.setenv(schemas.ROOT_ENV, uri)
    return uri


def _stored(root: str) -> dict[str, str]:
    bucket, _, prefix = root.removeprefix("s3://").partition("/")
    return {o.object_name: o.etag for o in s3_client().list_objects(bucket, prefix, recursive=True)}


def _records(*definitions: dict) -> list[dict]:
    """Stored-like records of consecutive versions, for accept_labels without a store."""
    return [
        {"version": n, "schema": {"compatible_with": None, "guidelines": None, **d}}
        for n, d in enumerate(definitions, start=1)
    ]


def _labels(rows: list[tuple[str, object, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["request_id", "label", "schema_version"])


# -- reading each row's version -----------------------------------------------------------------


def test_read_labels_takes_the_version_from_the_column_else_the_parquet_metadata(tmp_path):
    table = pa.table({"request_id": ["r1", "r2"], "label": ["good", "bad"]})
    table = table.replace_schema_metadata({METADATA_KEY: "credit-risk@v1"})
    pq.write_table(table, tmp_path / "a.parquet")
    pd.DataFrame(
        {
            "request_id": ["r3", "r4"],
            "label": ["good", "bad"],
            "schema_version": ["credit-risk@v2", None],
        }
    ).to_csv(tmp_path / "b.csv", index=False)
    pd.DataFrame({"request_id": ["r5"], "label": ["good"]}).to_csv(tmp_path / "c.csv", index=False)
    read = read_labels(str(tmp_path))
    assert read["schema_version"].tolist() == [
        "credit-risk@v1",
        "credit-risk@v1",
        "credit-risk@v2",
        "",  # a CSV has no metadata: an empty cell stays unversioned
        "",
    ]


# -- accepting labels (no store: the versions are given) ----------------------------------------


def test_accept_keeps_the_pinned_version_and_maps_older_labels_through_a_declared_mapping():
    load = lambda name: _records(V1, V2)  # noqa: E731
    labels = _labels(
        [
            ("r1", "good", "credit-risk@v2"),
            ("r2", "high-risk", "credit-risk@v2"),
            ("r3", "bad", "credit-risk@v1"),
            ("r4", "good", "credit-risk@v1"),
        ]
    )
    kept, counts = accept_labels(labels, "credit-risk@v2", load)
    assert kept["label"].tolist() == ["good", "high-risk", "high-risk", "good"]
    assert (counts.read, counts.kept, counts.mapped, counts.refused) == (4, 4, 2, 0)


def test_accept_refuses_and_counts_each_reason():
    v2_no_mapping = {**V1, "classes": [*V1["classes"], {"id": 2, "name": "review"}]}
    load = lambda name: _records(V1, v2_no_mapping)  # noqa: E731
    labels = _labels(
        [
            ("r1", "good", "credit-risk@v2"),
            ("r2", "bad", "credit-risk@v1"),  # v2 declares no compatible_with: not carried over
            ("r3", "bad", "fraud@v1"),
            ("r4", "bad", ""),
            ("r5", "medium", "credit-risk@v2"),
            ("r6", "good", "credit-risk@v3"),  # newer than the pinned one
        ]
    )
    kept, counts = accept_labels(labels, "credit-risk@v2", load)
    assert kept["request_id"].tolist() == ["r1"]
    assert counts.refusals() == {
        "other_version": 2,
        "other_schema": 1,
        "unversioned": 1,
        "unknown_class": 1,
    }
    assert counts.as_dict()["refused"] == 5
    assert any("another schema" in line for line in counts.lines())


def test_accept_counts_an_odd_version_number_as_another_version_instead_of_failing():
    load = lambda name: _records(V1, V2)  # noqa: E731
    odd = ["credit-risk@v\u00b2", "credit-risk@v" + "9" * 5000, "credit-risk@v-1"]
    labels = _labels(
        [("r1", "good", "credit-risk@v2")] + [(f"x{i}", "good", v) for i, v in enumerate(odd)]
    )
    kept, counts = accept_labels(labels, "credit-risk@v2", load)
    assert kept["request_id"].tolist() == ["r1"]
    assert counts.refusals() == {"other_version": 3}


def test_accept_without_a_pin_keeps_all_and_counts_versions_seen():
    labels = _labels([("r1", 1, "a@v1"), ("r2", 0, "a@v2"), ("r3", 1, "a@v2")])
    kept, counts = accept_labels(labels, "")
    assert len(kept) == 3 and counts.versions_seen == {"a@v1": 1, "a@v2": 2}
    with pytest.raises(ConfigError, match="expected NAME@vN"):
        accept_labels(labels, "credit-risk")


# -- the store, on the real SeaweedFS -----------------------------------------------------------


def test_register_list_show_and_identical_reregister(store):
    first, created = schemas.register("credit-risk", V1)
    assert created and first["reference"] == "credit-risk@v1" and len(first["sha256"]) == 64
    again, created = schemas.register("credit-risk", json.loads(json.dumps(V1)))
    assert not created and again["reference"] == "credit-risk@v1"
    added = {**V1, "classes": [*V1["classes"], {"id": 2, "name": "review"}]}
    second, created = schemas.register("credit-risk", added)
    assert created and second["version"] == 2
    assert schemas.names() == ["credit-risk"]
    assert [r["reference"] for r in schemas.records("credit-risk")] == [
        "credit-risk@v1",
        "credit-risk@v2",
    ]
    assert schemas.get("credit-risk@v1")["schema"]["guidelines"] == V1["guidelines"]
    with pytest.raises(DataError, match=r"has no version v9; it has \['credit-risk@v1'"):
        schemas.get("credit-risk@v9")
    with pytest.raises(DataError, match="unknown label schema 'fraud'"):
        schemas.get("fraud@v1")


def test_a_removed_class_without_mapping_is_refused_and_nothing_is_stored(store):
    schemas.register("credit-risk", V1)
    before = _stored(store)
    renamed = {**V2, "compatible_with": None}
    with pytest.raises(ConfigError, match=r"removes class\(es\) \['bad'\].*\n.*compatible_with"):
        schemas.register("credit-risk", renamed)
    moved = {**V1, "classes": [{"id": 5, "name": "good"}, {"id": 1, "name": "bad"}]}
    with pytest.raises(ConfigError, match=r"\['good'\] change id"):
        schemas.register("credit-risk", moved)
    assert _stored(store) == before


def test_a_rename_with_mapping_maps_v1_labels_into_v2(store):
    schemas.register("credit-risk", V1)
    second, created = schemas.register("credit-risk", V2)
    assert created and second["reference"] == "credit-risk@v2"
    labels = _labels([("r1", "bad", "credit-risk@v1"), ("r2", "review", "credit-risk@v2")])
    kept, counts = accept_labels(labels, "credit-risk@v2")
    assert kept["label"].tolist() == ["high-risk", "review"] and counts.mapped == 1
    with pytest.raises(DataError, match="no version v3"):
        accept_labels(labels, "credit-risk@v3")


# -- the command line ---------------------------------------------------------------------------


def test_cli_registers_lists_and_shows_a_yaml_schema(cli, store, tmp_path):
    path = tmp_path / "credit-risk.yaml"
    path.write_text(
        "target_column: credit_risk\nclasses:\n  - {id: 0, name: good}\n  - {id: 1, name: bad}\n"
        "guidelines: https://example.org/guidelines/v1\n"
    )
    code, out, _ = cli("labels", "schema", "register", "credit-risk", str(path))
    assert code == 0 and "credit-risk@v1: registered (classes 0=good, 1=bad)" in out
    code, out, _ = cli("labels", "schema", "register", "credit-risk", str(path))
    assert code == 0 and "credit-risk@v1: already stored, unchanged" in out
    code, out, _ = cli("labels", "schema", "list")
    assert out.split() == ["credit-risk"]
    code, out, _ = cli("labels", "schema", "list", "credit-risk")
    assert out.startswith("credit-risk@v1 ") and "['good', 'bad']" in out
    code, out, _ = cli("labels", "schema", "show", "credit-risk@v1")
    shown = json.loads(out)
    assert shown["schema"]["target_column"] == "credit_risk" and shown["created_by"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read schema .*: No such file or directory; give a readable UTF-8 file"),
        ("{not json", "cannot parse schema .* as JSON"),
        (json.dumps({"classes": V1["classes"]}), "no target_column"),
        (json.dumps({"target_column": "y"}), "no classes"),
        (
            json.dumps({**V1, "classes": [{"id": 0, "name": "a"}, {"id": 0, "name": "b"}]}),
            r"duplicate class id\(s\) \[0\]",
        ),
        (
            json.dumps({**V1, "classes": [{"id": 0, "name": "a"}, {"id": 1, "name": "a"}]}),
            r"duplicate class name\(s\) \['a'\]",
        ),
        (json.dumps({**V1, "labels": []}), r"unknown key\(s\) \['labels'\]"),
    ],
)
def test_cli_refuses_a_bad_schema_file_naming_the_problem(cli, store, tmp_path, content, message):
    path = tmp_path / "schema.json"
    if content is not None:
        path.write_text(content)
    code, _, err = cli("labels", "schema", "register", "credit-risk", str(path))
    assert code != 0 and re.search(message, err), err
    assert _stored(store) == {}


def test_cli_refuses_an_incompatible_version_showing_the_mapping_syntax(cli, store, tmp_path):
    schemas.register("credit-risk", V1)
    path = tmp_path / "v2.json"
    path.write_text(json.dumps({**V2, "compatible_with": None}))
    code, _, err = cli("labels", "schema", "register", "credit-risk", str(path))
    assert code != 0 and "removes class(es) ['bad'] of credit-risk@v1 without a mapping" in err
    assert "compatible_with:\n  version: 1\n  mapping:\n    bad: " in err
    assert [r["version"] for r in schemas.records("credit-risk")] == [1]


# -- the live-performance gate with a pinned schema ---------------------------------------------

BINARY = {"target_column": "risk", "classes": [{"id": 0, "name": "0"}, {"id": 1, "name": "1"}]}


def _judge(labels: pd.DataFrame, label_schema: str, schemas_of=None):
    from components.check_performance.core import check_performance
    from tests.test_check_performance import SETTINGS, log

    return check_performance(
        log(3),
        labels,
        bounds={"precision": 0.8},
        positive_label="",
        label_schema=label_schema,
        schemas=schemas_of,
        **SETTINGS,
    )


def test_check_performance_uses_only_the_pinned_version_and_reports_the_rest(store):
    from components.check_performance import report
    from tests.test_check_performance import labels_with_precision

    schemas.register("risk", BINARY)
    schemas.register("risk", {**BINARY, "guidelines": "https://example.org/v2"})  # no mapping
    labels = labels_with_precision(3, [1.0, 1.0, 1.0])
    labels["schema_version"] = ["risk@v2"] * 20 + ["risk@v1"] * 8 + [""] * 2
    result = _judge(labels, "risk@v2")
    assert result.label_counts.refusals() == {"other_version": 8, "unversioned": 2}
    assert result.counts.labels == 20 and result.counts.used_labels == 20
    markdown = report.render_markdown(result)
    assert "8 labels of another version of the schema with no declared mapping" in markdown
    assert "2 labels that name no schema version" in markdown
    assert report.metadata_of(result)["label_schema"]["other_version"] == 8
    assert report.metrics_of(result)["labels_refused_unversioned"] == 2.0
    assert "20 of risk@v2 kept" in report.label_line(result)


def test_check_performance_cannot_judge_when_every_label_is_refused(store):
    from components.check_performance import report
    from components.check_performance.publish import figures_of
    from tests.test_check_performance import labels_with_precision

    schemas.register("risk", BINARY)
    labels = labels_with_precision(3, [1.0, 1.0, 1.0])
    labels["schema_version"] = "fraud@v1"
    result = _judge(labels, "risk@v1")
    assert result.cannot_judge and not result.passed
    assert result.reasons[0].startswith("cannot judge: label_schema risk@v1 refused all 30")
    assert report.headline(result) == "CANNOT JUDGE"
    assert "# Live performance: CANNOT JUDGE" in report.render_markdown(result)
    assert "CANNOT JUDGE" in report.render_html(result)
    assert report.summary_line(result).startswith("cannot judge")
    assert figures_of(result, "m").metrics["labels_refused_by_schema"] == 30.0


def test_check_performance_without_a_pin_notes_mixed_versions():
    from tests.test_check_performance import labels_with_precision

    labels = labels_with_precision(3, [1.0, 1.0, 1.0])
    labels["schema_version"] = ["risk@v1"] * 15 + ["risk@v2"] * 15
    result = _judge(labels, "")
    assert result.passed and result.counts.used_labels == 30
    assert any("several schema versions were used together" in n for n in result.notes)
