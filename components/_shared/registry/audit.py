"""The audit trail: one record per alias move or approval decision, written first, under the lock.

Each record is a registered-model tag `kfp_mlops.alias_move.<seq>` holding JSON. An alias
move is {alias, version, from_version, time, who, why}; a decision on a version (approvals.py)
is {action: "approve"|"reject", version, time, who, why, evidence} (no `action`: a move, so
records written before decisions existed still read). Written before the alias moves (or the
version's approval tag is set), so a crash leaves either no record, a record whose act never
happened, or the act with its record. A move that never happened is recognisable: it is the
last record of its alias and the live alias still points where it started (`from_version`).
A decision that never happened is the last decision record of all whose version's approval
tag does not carry its time (every holder reconciles before it writes, so only the last one
can be unfinished). The next lock holder marks such a record `abandoned`, and `history`
leaves it out even before that.
"""

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from components._shared.registry.names import APPROVAL_TAG

MOVE_TAG_PREFIX = "kfp_mlops.alias_move."
MAX_WHY = 1000  # keeps a record well under MLflow's tag value limit
FIELDS = ("action", "alias", "version", "from_version", "time", "who", "why", "evidence")
MOVE = "move"  # the `action` history shows for an alias move
DECISIONS = ("approve", "reject")


@dataclass(frozen=True)
class Move:
    """One recorded alias move; `abandoned` when the process died before making it."""

    seq: int
    alias: str
    version: int
    from_version: int | None
    time: str
    who: str
    why: str
    abandoned: bool = False
    action: str | None = None  # "approve" or "reject"; None for an alias move
    evidence: dict | None = None  # a decision's: the live comparison it was given

    @property
    def tag(self) -> str:
        """The registered-model tag that holds this record."""
        return f"{MOVE_TAG_PREFIX}{self.seq:06d}"

    def value(self) -> str:
        """The tag's JSON value."""
        facts = asdict(self)
        del facts["seq"]
        if not self.abandoned:
            del facts["abandoned"]
        if self.action is None:
            del facts["action"], facts["evidence"]
        else:
            del facts["alias"], facts["from_version"]
        return json.dumps(facts, sort_keys=True)

    def public(self) -> dict:
        """The record as `kfp-mlops history --output json` prints it (a move: action "move")."""
        facts = {k: getattr(self, k) for k in FIELDS}
        facts["action"] = self.action or MOVE
        facts["alias"] = self.alias or None
        return facts


def _version(value: object) -> int | None:
    return None if value is None else int(value)


def parse_moves(tags: dict[str, str]) -> list[Move]:
    """Every record among a registered model's tags, oldest first (unreadable ones skipped)."""
    moves = []
    for key, value in tags.items():
        if not key.startswith(MOVE_TAG_PREFIX):
            continue
        try:
            facts = json.loads(value)
            if not isinstance(facts, dict):
                continue  # JSON, but no record: not ours to interpret either
            action = facts.get("action")
            if action is not None and action not in DECISIONS:
                continue  # a kind of record this release does not know
            evidence = facts.get("evidence")
            moves.append(
                Move(
                    seq=int(key.removeprefix(MOVE_TAG_PREFIX)),
                    alias="" if action else str(facts["alias"]),
                    version=int(facts["version"]),
                    from_version=None if action else _version(facts["from_version"]),
                    time=str(facts["time"]),
                    who=str(facts["who"]),
                    why=str(facts["why"]),
                    abandoned=bool(facts.get("abandoned", False)),
                    action=action,
                    evidence=evidence if isinstance(evidence, dict) else None,
                )
            )
        except (ValueError, KeyError, TypeError):
            continue  # a hand-written tag of that name is not ours to interpret
    return sorted(moves, key=lambda m: m.seq)


def unfinished(moves: list[Move], live: dict[str, int]) -> list[Move]:
    """Records whose move never happened: the last of their alias, the alias still at the start.

    Pure. `live` is alias -> version as the registry shows it now.
    """
    last: dict[str, Move] = {}
    for move in moves:
        if not move.abandoned and move.action is None:
            last[move.alias] = move
    return [
        m
        for m in last.values()
        if live.get(m.alias) != m.version and live.get(m.alias) == m.from_version
    ]


def last_decision(moves: list[Move]) -> Move | None:
    """The newest decision record not marked abandoned (the only one that can be unfinished)."""
    decisions = [m for m in moves if m.action is not None and not m.abandoned]
    return decisions[-1] if decisions else None


def decision_done(record: Move, version_tags: dict[str, str] | None) -> bool:
    """True when the version's approval tag carries this record's time (the tag came second).

    Pure. `version_tags` None: the version is gone, nothing can contradict the record.
    """
    if version_tags is None:
        return True
    try:
        return json.loads(version_tags.get(APPROVAL_TAG) or "{}").get("at") == record.time
    except (ValueError, AttributeError):
        return False


def history(
    moves: list[Move], live: dict[str, int], unfinished_decision: Move | None = None
) -> list[Move]:
    """The moves and decisions that happened, oldest first (abandoned, unfinished left out)."""
    skipped = {m.seq for m in unfinished(moves, live)}
    if unfinished_decision is not None:
        skipped.add(unfinished_decision.seq)
    return [m for m in moves if not m.abandoned and m.seq not in skipped]


def new_move(
    moves: list[Move], alias: str, version: int, from_version: int | None, who: str, why: str
) -> Move:
    """The next record (sequence after the last one, time now in UTC)."""
    return Move(
        seq=(moves[-1].seq + 1) if moves else 1,
        alias=alias,
        version=version,
        from_version=from_version,
        time=datetime.now(UTC).isoformat(timespec="milliseconds"),
        who=who,
        why=why[:MAX_WHY],
    )


class Trail:
    """The audit trail of one registered model; every method needs the model's lease held."""

    def __init__(self, registry, name: str, state: str) -> None:
        self.registry, self.name, self.state = registry, name, state

    def moves(self) -> list[Move]:
        """Every record as stored now."""
        with self.registry.step("reading the alias history", self.state):
            tags = self.registry.client.get_registered_model(self.name).tags or {}
        return parse_moves(tags)

    def reconcile(self, live: dict[str, int]) -> list[Move]:
        """Mark the records whose act a dead holder never made; returns those records."""
        moves = self.moves()
        found = unfinished(moves, live)
        decision = self.unfinished_decision(moves)
        for move in found + ([decision] if decision else []):
            self._write(replace(move, abandoned=True))
        return found

    def unfinished_decision(self, moves: list[Move]) -> Move | None:
        """The last decision record when its version's approval tag does not carry it."""
        record = last_decision(moves)
        if record is None or decision_done(record, self._version_tags(record.version)):
            return None
        return record

    def decide(self, action: str, version: int, who: str, why: str, evidence: dict | None):
        """Write the record of a decision about to be tagged (call before the tag)."""
        record = replace(
            new_move(self.moves(), "", version, None, who, why), action=action, evidence=evidence
        )
        self._write(record)
        return record

    def _version_tags(self, version: int) -> dict[str, str] | None:
        from mlflow.exceptions import MlflowException

        with self.registry.step(f"reading v{version}", self.state):
            try:
                found = self.registry.client.get_model_version(self.name, str(version))
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                return None
        return dict(found.tags or {})

    def record(self, alias: str, version: int, from_version: int | None, who: str, why: str):
        """Write the record of a move about to be made (call before moving the alias)."""
        move = new_move(self.moves(), alias, version, from_version, who, why)
        self._write(move)
        return move

    def _write(self, move: Move) -> None:
        with self.registry.step("recording the alias move", self.state):
            self.registry.client.set_registered_model_tag(self.name, move.tag, move.value())
