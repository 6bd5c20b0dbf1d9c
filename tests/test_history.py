"""`kfp-mlops history` and the audit trail it reads, including after a crash at each boundary."""

import json

import pytest

from components._shared.failpoints import POINTS, Crash, armed, crash
from components._shared.registry.audit import Move, history, parse_moves, unfinished
from tests import test_register_model as registering
from tests.test_register_model import LINEAGE_TAGS, artifacts, client, evaluation, run, unique

credit = registering.credit  # the fixture
REGISTER_POINTS = [p for p in POINTS if p.startswith("register.")]


@pytest.fixture
def kfp(cli, capsys):
    """`kfp-mlops ...` whose output is its own (MLflow prints run links while registering)."""

    def call(*args):
        capsys.readouterr()
        return cli(*args)

    return call


def champion_then_better(tmp_path, credit, name: str) -> dict:
    """v1 registered as champion; returns the inputs of a better v2 that compared against v1."""
    run(tmp_path, artifacts(tmp_path, credit, model_name=name))
    better = artifacts(tmp_path, credit, seed=1, model_name=name)
    better["evaluation_report"].metadata.update(evaluation(0.85, 1.0, 0.8))
    return better


def assert_chained(moves: list[dict]) -> None:
    """Each move of an alias starts where the previous move of that alias ended."""
    last: dict[str, int | None] = {}
    for move in moves:
        assert move["from_version"] == last.get(move["alias"]), (move, moves)
        last[move["alias"]] = move["version"]


def json_history(kfp, name: str) -> list[dict]:
    code, out, err = kfp("history", name, "--output", "json")
    assert code == 0, err
    return json.loads(out)


# -- pure rules ------------------------------------------------------------------------------


def _move(seq, alias, version, start, abandoned=False) -> Move:
    return Move(seq, alias, version, start, "t", "who", "why", abandoned)


def test_history_record_whose_move_never_happened_is_left_out():
    moves = [_move(1, "champion", 1, None), _move(2, "champion", 2, 1)]
    assert unfinished(moves, {"champion": 1}) == [moves[1]]  # died between record and move
    assert [m.seq for m in history(moves, {"champion": 1})] == [1]
    assert [m.seq for m in history(moves, {"champion": 2})] == [1, 2]  # the move happened


def test_history_abandoned_records_and_foreign_tags_are_not_moves():
    moves = [_move(1, "champion", 1, None), _move(2, "champion", 2, 1, abandoned=True)]
    tags = {m.tag: m.value() for m in moves} | {"kfp_mlops.alias_move.x": "{", "owner": "me"}
    parsed = parse_moves(tags)
    assert parsed == moves
    assert [m.seq for m in history(parsed, {"champion": 1})] == [1]
    assert unfinished(parsed, {"champion": 1}) == []


# -- against the real stack --------------------------------------------------------------------


def test_history_lists_promotions_and_rollback_oldest_first(kfp, tmp_path, credit, monkeypatch):
    name = unique("hist")
    first = artifacts(tmp_path, credit, model_name=name)
    run(tmp_path, first)
    better = artifacts(tmp_path, credit, seed=1, model_name=name)
    better["evaluation_report"].metadata.update(evaluation(0.85, 1.0, 0.8))
    run(tmp_path, better)
    monkeypatch.setenv("KFP_MLOPS_USER", "alice")
    assert kfp("rollback", name, "--reason", "bad predictions", "--expect-from", "2")[0] == 0

    moves = json_history(kfp, name)
    assert [(m["alias"], m["from_version"], m["version"]) for m in moves] == [
        ("challenger", None, 1),
        ("champion", None, 1),
        ("challenger", 1, 2),
        ("champion", 1, 2),
        ("champion", 2, 1),
    ]
    assert [m["who"] for m in moves] == [first["kfp_run_id"]] * 2 + [better["kfp_run_id"]] * 2 + [
        "alice"
    ]
    assert moves[3]["why"] == "promoted to champion (previous: v1)"
    assert moves[4]["why"] == "rollback: bad predictions"
    keys = {"action", "alias", "version", "from_version", "time", "who", "why", "evidence"}
    assert all(set(m) == keys and m["action"] == "move" for m in moves)
    assert [m["time"] for m in moves] == sorted(m["time"] for m in moves)
    assert_chained(moves)
    code, out, _ = kfp("history", name)
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 5
    assert "champion" in lines[-1] and "v2 -> v1" in lines[-1] and "by alice" in lines[-1]


def test_history_of_unknown_model_says_so(kfp):
    code, out, err = kfp("history", "no-such-model-anywhere")
    assert code == 1 and out == "" and "no registered model 'no-such-model-anywhere'" in err


def test_rollback_expect_from_another_version_refuses_and_changes_nothing(kfp, tmp_path, credit):
    name = unique("expect")
    run(tmp_path, champion_then_better(tmp_path, credit, name))
    before = client().get_registered_model(name).tags
    code, out, err = kfp("rollback", name, "--reason", "x", "--expect-from", "1")
    assert code == 1 and out == ""
    assert (
        "the champion is v2, not v1 as --expect-from says" in err and "nothing was changed" in err
    )
    assert client().get_model_version_by_alias(name, "champion").version == "2"
    assert client().get_registered_model(name).tags == before


def test_crash_between_record_and_move_leaves_history_consistent(kfp, tmp_path, credit):
    name = unique("crashrec")
    better = champion_then_better(tmp_path, credit, name)
    with armed("register.record_written", crash), pytest.raises(Crash):
        run(tmp_path, better)
    assert client().get_model_version_by_alias(name, "champion").version == "1"
    records = parse_moves(client().get_registered_model(name).tags)
    assert (records[-1].alias, records[-1].version) == ("champion", 2)  # written, never done
    moves = json_history(kfp, name)
    assert ("champion", 2) not in [(m["alias"], m["version"]) for m in moves]
    assert_chained(moves)

    meta = run(tmp_path, better)["meta"]  # the same attempt, rerun
    assert meta["promoted"] is True and meta["version"] == 2
    moves = json_history(kfp, name)
    assert [(m["from_version"], m["version"]) for m in moves if m["alias"] == "champion"] == [
        (None, 1),
        (1, 2),
    ]
    assert_chained(moves)
    stored = parse_moves(client().get_registered_model(name).tags)
    assert [m.abandoned for m in stored if m.alias == "champion"] == [False, True, False]


def test_crash_between_rollback_record_and_move_leaves_history_consistent(
    kfp, tmp_path, credit, monkeypatch
):
    name = unique("crashrb")
    run(tmp_path, champion_then_better(tmp_path, credit, name))
    monkeypatch.setenv("KFP_MLOPS_USER", "bob")
    with armed("rollback.record_written", crash), pytest.raises(Crash):
        kfp("rollback", name, "--reason", "first try")
    assert client().get_model_version_by_alias(name, "champion").version == "2"
    assert [m["version"] for m in json_history(kfp, name) if m["alias"] == "champion"] == [1, 2]
    assert kfp("rollback", name, "--reason", "second try")[0] == 0
    moves = json_history(kfp, name)
    assert moves[-1] | {"time": ""} == {
        "action": "move",
        "evidence": None,
        "alias": "champion",
        "version": 1,
        "from_version": 2,
        "time": "",
        "who": "bob",
        "why": "rollback: second try",
    }
    assert_chained(moves)


@pytest.mark.parametrize("point", REGISTER_POINTS)
def test_crash_at_each_register_boundary_then_rerun_ends_consistent(kfp, tmp_path, credit, point):
    name = unique("crashat")
    better = champion_then_better(tmp_path, credit, name)
    with armed(point, crash), pytest.raises(Crash):
        run(tmp_path, better)
    assert_chained(json_history(kfp, name))

    meta = run(tmp_path, better)["meta"]  # the same attempt, rerun by KFP
    assert (meta["version"], meta["promoted"]) == (2, True)
    assert meta["aliases"] == ["challenger", "champion"]
    assert len(client().search_model_versions(f"name = '{name}'")) == 2
    experiment = client().get_experiment_by_name(name)
    assert len(client().search_runs([experiment.experiment_id])) == 2
    assert len(client().search_logged_models([experiment.experiment_id])) == 2
    tags = client().get_model_version(name, "2").tags
    assert set(tags) >= LINEAGE_TAGS | {"kfp_mlops.champion_since", "kfp_mlops.previous_champion"}
    assert tags["kfp_mlops.previous_champion"] == "1"
    moves = json_history(kfp, name)
    assert_chained(moves)
    assert [(m["alias"], m["from_version"], m["version"]) for m in moves] == [
        ("challenger", None, 1),
        ("champion", None, 1),
        ("challenger", 1, 2),
        ("champion", 1, 2),
    ]


def test_history_names_a_run_by_the_pipeline_it_was_started_as():
    from components._shared.verdicts.gate_records import GateRecord
    from kfp_mlops.model_registry.movers import run_pipeline

    # A monitoring run's retrain writes training gates too: its first gate (drift) names it.
    monitoring = [GateRecord("drift", False, "", pipeline="monitoring"),
                  GateRecord("validation", True, "", pipeline="training")]  # fmt: skip
    assert run_pipeline(monitoring) == "monitoring"
    assert run_pipeline([GateRecord("validation", True, "", pipeline="training")]) == "training"
    assert run_pipeline([GateRecord("drift", True, "")]) is None  # no pipeline recorded
    assert run_pipeline([GateRecord("deploy", True, "", pipeline="unknown")]) is None
    assert run_pipeline([]) is None  # a person, or a run whose records are gone
