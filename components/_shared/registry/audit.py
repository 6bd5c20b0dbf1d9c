"""The alias audit trail: one record per alias move, written before the move, under the lock.

Each record is a registered-model tag `kfp_mlops.alias_move.<seq>` holding JSON
{alias, version, from_version, time, who, why}. Written before the alias moves, so a crash
leaves either no record, a record whose move never happened, or a move with its record. A
record whose move never happened is recognisable: it is the last record of its alias and the
live alias still points where it started (`from_version`). The next lock holder marks it
`abandoned`, and `history` leaves it out even before that.
"""

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

MOVE_TAG_PREFIX = "kfp_mlops.alias_move."
MAX_WHY = 1000  # keeps a record well under MLflow's tag value limit
FIELDS = ("alias", "version", "from_version", "time", "who", "why")


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
        return json.dumps(facts, sort_keys=True)

    def public(self) -> dict:
        """The move as `kfp-mlops history --output json` prints it."""
        return {k: getattr(self, k) for k in FIELDS}


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
            moves.append(
                Move(
                    seq=int(key.removeprefix(MOVE_TAG_PREFIX)),
                    alias=str(facts["alias"]),
                    version=int(facts["version"]),
                    from_version=_version(facts["from_version"]),
                    time=str(facts["time"]),
                    who=str(facts["who"]),
                    why=str(facts["why"]),
                    abandoned=bool(facts.get("abandoned", False)),
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
        if not move.abandoned:
            last[move.alias] = move
    return [
        m
        for m in last.values()
        if live.get(m.alias) != m.version and live.get(m.alias) == m.from_version
    ]


def history(moves: list[Move], live: dict[str, int]) -> list[Move]:
    """The moves that happened, oldest first (abandoned and unfinished records left out)."""
    skipped = {m.seq for m in unfinished(moves, live)}
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
        """Mark the records whose move a dead holder never made; returns those records."""
        found = unfinished(self.moves(), live)
        for move in found:
            self._write(replace(move, abandoned=True))
        return found

    def record(self, alias: str, version: int, from_version: int | None, who: str, why: str):
        """Write the record of a move about to be made (call before moving the alias)."""
        move = new_move(self.moves(), alias, version, from_version, who, why)
        self._write(move)
        return move

    def _write(self, move: Move) -> None:
        with self.registry.step("recording the alias move", self.state):
            self.registry.client.set_registered_model_tag(self.name, move.tag, move.value())
