"""Named points between the steps of a multi-call operation, where tests inject real faults.

The pattern of etcd's gofail and TiKV's fail-rs: production code marks each boundary with
`failpoint(NAME)`, which does nothing unless a test armed it. A test arms a point with an
action (SIGKILL the MLflow server through the stack's process control, or crash the step) and
then checks that a rerun of the same attempt ends in one consistent state.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Every boundary a fault test covers; failpoint() refuses other names, so code and tests agree.
POINTS = (
    # register_model, in the order it crosses them (the lock guards only the alias moves)
    "register.run_created",
    "register.model_logged",
    "register.version_created",
    "register.lock_acquired",
    "register.challenger_moved",
    "register.tags_written",  # champion_since and previous_champion, before the move
    "register.record_written",  # the champion move's audit record
    "register.champion_moved",
    # rollback
    "rollback.record_written",
    "rollback.champion_moved",
    # approve/reject: the decision's audit record written, the version's approval tag not yet
    "approval.record_written",
    # load_data: after the first object or part was read
    "load.part_read",
    # the prediction log, before each object is sent (its action is given the key prefix)
    "predlog.put",
)

_armed: dict[str, Callable[..., None]] = {}


class Crash(BaseException):
    """Raised by an armed point to stand for the step's process dying there.

    A BaseException, so no `except Exception` on the way up can turn it into a clean error.
    """


def failpoint(name: str, *where: object) -> None:
    """Run the action armed at this point, if any (a no-op otherwise), given `where`."""
    if name not in POINTS:
        raise ValueError(f"unknown failpoint {name!r}; expected one of {list(POINTS)}")
    action = _armed.get(name)
    if action is not None:
        action(*where)


@contextmanager
def armed(name: str, action: Callable[..., None]) -> Iterator[None]:
    """Arm one point with an action while the block runs (tests only)."""
    if name not in POINTS:
        raise ValueError(f"unknown failpoint {name!r}; expected one of {list(POINTS)}")
    _armed[name] = action
    try:
        yield
    finally:
        _armed.pop(name, None)


def crash() -> None:
    """An action: the step's process dies here."""
    raise Crash("injected crash")
