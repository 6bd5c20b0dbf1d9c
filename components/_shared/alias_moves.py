"""Alias decisions outside registration (deploy's `production`): under the lease, recorded first.

The same machinery register_model and `kfp-mlops rollback` use: the model's S3 lease
(`lease.Lease`), the audit trail (`audit.Trail`: a record written before the alias moves, a
dead holder's unfinished record reconciled) and the registry client (`registry.Registry`).
"""

from components._shared.audit import Trail
from components._shared.lease import Lease
from components._shared.registry import Registry


def move_alias(
    name: str, alias: str, version: int, *, who: str, why: str, state: str, tags: dict
) -> int | None:
    """Point `alias` at `version`, tagging the version and recording the move before it.

    Returns the version the alias pointed at before (None when unset). A retried step whose
    move already happened moves and records nothing.

    Raises:
        LeaseError: Another holder kept the model's lease past the wait.
        ServiceError: MLflow or S3 failed; a move made carries its record.
    """
    registry = Registry()
    with Lease(name, who, rerun=who != "unknown") as lease:
        live = registry.aliases(name, state)
        trail = Trail(registry, name, state)
        trail.reconcile(live)
        current = live.get(alias)
        if current == version:
            return current
        registry.set_tags(name, version, tags, state)
        lease.ensure()
        trail.record(alias, version, current, who, why)
        registry.set_alias(name, alias, version, state)
    return current


def record_kept(
    name: str, alias: str, version: int, *, who: str, why: str, state: str, tags: dict
) -> int | None:
    """Record a decision that leaves `alias` where it is (a canary of `version` rolled back).

    The version gets `tags`; the audit trail gets a record of `alias` staying at its current
    version (from and to the same), so `kfp-mlops history` shows the decision and its reason.
    Returns the alias's version (None when unset: then only the tags record it).
    """
    registry = Registry()
    with Lease(name, who, rerun=who != "unknown") as lease:
        live = registry.aliases(name, state)
        trail = Trail(registry, name, state)
        trail.reconcile(live)
        registry.set_tags(name, version, tags, state)
        current = live.get(alias)
        if current is not None:
            lease.ensure()
            trail.record(alias, current, current, who, why)
    return current
