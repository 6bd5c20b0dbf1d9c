"""Both sides of a comparison counted at once, in two threads where two CPUs are usable.

Arrow decodes Parquet and NumPy counts with the GIL released, so the reference and the
current data are read and counted side by side (benchmarks/README.md has the figures). One
CPU (a pod limited to one, see components/_shared/cpus.py): one side after the other, as
before. The first error wins: the other side stops at its next batch, and the error is raised
as it was raised.
"""

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from components._shared.cpus import usable_cpus

T = TypeVar("T")


class Stopped(Exception):
    """The other side failed: this side's count is abandoned."""


def stoppable(batches: Iterable, stop: threading.Event | None) -> Iterator:
    """`batches`, ending in Stopped at the first batch after `stop` is set."""
    for batch in batches:
        if stop is not None and stop.is_set():
            raise Stopped("the other side failed")
        yield batch


def both_sides(
    count_ref: Callable[[threading.Event], T],
    count_cur: Callable[[threading.Event], T],
    cpus: int | None = None,
) -> tuple[T, T]:
    """(count_ref(stop), count_cur(stop)): at once where two CPUs are usable, else in turn.

    Each count passes its batches through `stoppable(batches, stop)`.
    """
    stop = threading.Event()
    if (usable_cpus() if cpus is None else cpus) < 2:
        return count_ref(stop), count_cur(stop)

    def guarded(count):
        try:
            return count(stop)
        except BaseException:  # Ctrl-C too: the other thread must not read on
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="drift-current") as pool:
        current = pool.submit(guarded, count_cur)
        try:
            reference = guarded(count_ref)
            return reference, current.result()
        except Stopped:
            current.result()  # the current side failed first: its error is the one raised
            raise
        except BaseException:  # e.g. Ctrl-C while waiting for the current side
            stop.set()
            raise
