"""The prediction log's format, defined once (components/_shared/logformat.py), and its doc.

The doc is docs/serving.md, "The prediction log"; its table must follow the format.
"""

import pyarrow as pa
import pytest

from components._shared.logformat import (
    META_TYPES,
    label_type,
    log_schema,
    partition,
    proba_column,
    segment,
)
from tests.conftest import REPO

INPUTS = [("sex", "string"), ("age", "integer"), ("amount", "double"), ("vip", "boolean")]


def test_log_schema_orders_facts_inputs_outputs_then_latency_with_their_types():
    schema = log_schema(INPUTS, [0, 1])
    assert schema.names == [
        "request_id", "time", "model_name", "model_version", "endpoint", "sex", "age", "amount",
        "vip",
        "prediction", "proba_0", "proba_1", "latency_seconds",
    ]  # fmt: skip
    assert schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert [schema.field(n).type for n, _ in INPUTS] == [
        pa.string(), pa.int64(), pa.float64(), pa.bool_()
    ]  # fmt: skip
    assert schema.field("prediction").type == pa.int64()
    assert log_schema(INPUTS, ["bad", "good"]).field("prediction").type == pa.string()
    assert log_schema(INPUTS, []).names[-2:] == ["prediction", "latency_seconds"]


def test_log_schema_refuses_an_input_named_like_the_logs_own_columns_or_of_unknown_kind():
    with pytest.raises(ValueError, match="'time' has the name of one of the prediction log's"):
        log_schema([("time", "double")], [0, 1])
    with pytest.raises(ValueError, match="'proba_1' has the name"):
        log_schema([("proba_1", "double")], [0, 1])
    with pytest.raises(ValueError, match="kind 'date'; expected one of"):
        log_schema([("when", "date")], [0, 1])


def test_label_type_and_proba_column_names_follow_the_classes():
    assert label_type([True, False]) == pa.bool_() and label_type([]) == pa.string()
    assert proba_column("good") == "proba_good" and proba_column(1) == "proba_1"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("german-credit", "p/german-credit/date=2026-12-05/"),
        ("..", "p/__/date=2026-12-05/"),
        ("a/b", "p/a_b/date=2026-12-05/"),
        ("crédit", "p/cr_dit/date=2026-12-05/"),
        ("", "p/_/date=2026-12-05/"),
    ],
)
def test_partition_keys_are_one_safe_segment_per_model(name, key):
    assert partition("p/", name, "2026-12-05") == key
    assert partition("p", name, "2026-12-05", rejected=True) == key.replace("p/", "p/_rejected/", 1)
    assert segment(name) not in (".", "..")


def test_readme_layout_section_lists_the_format_modules_columns_in_order_and_type():
    readme = (REPO / "docs" / "serving.md").read_text()
    section = readme.split("## The prediction log\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `")]
    listed = [(name.strip().strip("`"), kind.strip()) for name, kind in rows]
    schema = log_schema([("x", "double")], ["c"])
    placeholders = {"x": "<each input column>", "proba_c": "proba_<class> ..."}
    assert [n for n, _ in listed] == [placeholders.get(n, n) for n in schema.names]
    for name, kind in listed:
        if name in META_TYPES:
            shown = {"double": "float64", "timestamp[us, tz=UTC]": "timestamp[us, UTC]"}
            assert kind == shown.get(str(META_TYPES[name]), str(META_TYPES[name]))
