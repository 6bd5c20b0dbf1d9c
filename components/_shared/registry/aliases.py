"""The one alias-move protocol: under the model's lease, each move recorded before it is made.

Every alias decision goes through `alias_moves`: register_model (`challenger`, then maybe
`champion`), `kfp-mlops rollback` (`champion` back), deploy_model (`production`). It holds the
model's S3 lease (`lease.Lease`), reads the live aliases, reconciles the audit trail
(`audit.Trail`: a record a dead holder wrote but never acted on is not a move), and each
`move` then tags the version, renews the lease if needed, writes the record and only then
moves the alias, so a crash leaves no silent move. Approvals (approvals.decide) take the
same lease and write to the same trail, so a check made under it sees a decision whole.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from components._shared.failpoints import failpoint
from components._shared.registry.audit import Trail
from components._shared.registry.client import Registry
from components._shared.registry.lease import Lease


@dataclass(frozen=True)
class Marks:
    """Failpoint names at a move's boundaries, where fault tests strike (None: no point)."""

    tagged: str | None = None  # the version's tags written
    recorded: str | None = None  # the audit record written
    moved: str | None = None  # the alias moved


NO_MARKS = Marks()


def _mark(name: str | None) -> None:
    if name is not None:
        failpoint(name)


class AliasMoves:
    """The model's aliases while its lease is held; `move` and `record_kept` change them."""

    def __init__(self, registry: Registry, name: str, who: str, state: str, lease, trail):
        self.registry, self.name, self.who, self.state = registry, name, who, state
        self.lease, self.trail = lease, trail
        self.live = registry.aliases(name, state)
        trail.reconcile(self.live)

    def move(
        self,
        alias: str,
        version: int,
        why: str,
        *,
        tags: dict | None = None,
        marks: Marks = NO_MARKS,
    ) -> int | None:
        """Point `alias` at `version`: its tags first, then the record, then the move.

        Returns the version the alias pointed at before (None when unset).
        """
        current = self.live.get(alias)
        if tags:
            self.registry.set_tags(self.name, version, tags, self.state)
            _mark(marks.tagged)
        self.lease.ensure()
        self.trail.record(alias, version, current, self.who, why)
        _mark(marks.recorded)
        self.registry.set_alias(self.name, alias, version, self.state)
        _mark(marks.moved)
        self.live[alias] = version
        return current

    def record_kept(self, alias: str, why: str) -> int | None:
        """Record a decision that leaves `alias` where it is (from and to the same version).

        Returns the alias's version; None when unset, and then nothing is recorded.
        """
        current = self.live.get(alias)
        if current is not None:
            self.lease.ensure()
            self.trail.record(alias, current, current, self.who, why)
        return current


@contextmanager
def alias_moves(
    name: str,
    who: str,
    state: str,
    *,
    registry: Registry | None = None,
    rerun: bool | None = None,
    locked: str | None = None,
) -> Iterator[AliasMoves]:
    """Hold the model's lease, read and reconcile its aliases, and yield them for moves.

    Args:
        name: Registered model name.
        who: The holder, recorded with each move (a KFP run id, or the CLI user).
        state: What is true if a call fails here, for the ServiceError's message.
        registry: The client to use (a new `Registry` by default).
        rerun: Take over a lease still held under the same `who` (an earlier attempt that
            died); by default when `who` is known.
        locked: A failpoint name crossed right after the lease is taken.

    Raises:
        LeaseError: Another holder kept the model's lease past the wait, or it was lost.
        ServiceError: MLflow or S3 failed; every move made so far carries its record.
    """
    registry = registry or Registry()
    with Lease(name, who, rerun=who != "unknown" if rerun is None else rerun) as lease:
        _mark(locked)
        yield AliasMoves(registry, name, who, state, lease, Trail(registry, name, state))


def move_alias(
    name: str,
    alias: str,
    version: int,
    *,
    who: str,
    why: str,
    state: str,
    tags: dict,
    check: Callable[[], object] | None = None,
) -> int | None:
    """Point `alias` at `version`, tagging the version and recording the move before it.

    Returns the version the alias pointed at before (None when unset). A retried step whose
    move already happened moves and records nothing. `check` runs under the lease before
    anything is written (an approval check: it raises to refuse the move).

    Raises:
        LeaseError: Another holder kept the model's lease past the wait.
        ServiceError: MLflow or S3 failed; a move made carries its record.
    """
    with alias_moves(name, who, state) as aliases:
        current = aliases.live.get(alias)
        if current == version:
            return current
        if check is not None:
            check()
        return aliases.move(alias, version, why, tags=tags)


def record_kept(
    name: str, alias: str, version: int, *, who: str, why: str, state: str, tags: dict
) -> int | None:
    """Record a decision that leaves `alias` where it is (a canary of `version` rolled back).

    The version gets `tags`; the audit trail gets a record of `alias` staying at its current
    version (from and to the same), so `kfp-mlops history` shows the decision and its reason.
    Returns the alias's version (None when unset: then only the tags record it).
    """
    with alias_moves(name, who, state) as aliases:
        aliases.registry.set_tags(name, version, tags, state)
        return aliases.record_kept(alias, why)
