"""Date partitions (`date=YYYY-MM-DD/`) of a prefix, the prediction log's layout, by window."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from components._shared.errors import ConfigError, DataError
from components._shared.io.parts import Part

_PARTITION = re.compile(r"(?:^|/)date=(\d{4}-\d{2}-\d{2})/")


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    problem = ConfigError(f"{name}={text!r} is not a date like 2026-11-30 (YYYY-MM-DD)")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise problem
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise problem from None


@dataclass(frozen=True)
class DateWindow:
    """Inclusive first and last day (UTC); None leaves that side open. Empty: no window."""

    start: date | None = None
    end: date | None = None

    @classmethod
    def of(cls, start: str, end: str, last_days: int, today: date | None = None) -> "DateWindow":
        """From the parameters: explicit days, or the last N days up to today (UTC).

        Raises:
            ConfigError: A day not in YYYY-MM-DD form, start after end, a negative
                last_days, or last_days together with explicit days.
        """
        first, last = _day(start, "start_date"), _day(end, "end_date")
        if last_days < 0:
            raise ConfigError(f"last_days={last_days} is negative; give 0 (no window) or more")
        if last_days and (first or last):
            raise ConfigError(
                "give either last_days (a window ending today, for scheduled runs) or "
                "start_date/end_date (fixed days), not both"
            )
        if last_days:
            last = today or datetime.now(UTC).date()
            first = last - timedelta(days=last_days - 1)
        if first and last and first > last:
            raise ConfigError(f"start_date {first} is after end_date {last}; swap them")
        return cls(first, last)

    def __bool__(self) -> bool:
        return self.start is not None or self.end is not None

    def __contains__(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def __str__(self) -> str:
        return f"{self.start or '…'}..{self.end or '…'}"


def part_day(uri: str) -> date | None:
    """The day of the `date=YYYY-MM-DD/` folder a part lies in, or None."""
    found = _PARTITION.findall(uri)
    return date.fromisoformat(found[-1]) if found else None


def in_window(parts: list[Part], window: DateWindow, uri: str) -> list[Part]:
    """The parts whose `date=` folder falls in the window (all of them without a window).

    Raises:
        DataError: A window was given but a part lies in no `date=YYYY-MM-DD/` folder, or no
            part falls in the window (the message names the days there are).
    """
    if not window:
        return parts
    undated = [p.uri for p in parts if part_day(p.uri) is None]
    if undated:
        raise DataError(
            f"a date window ({window}) selects date=YYYY-MM-DD/ folders, but {uri} holds "
            f"parts outside any: {undated[:3]}; point at a prediction-log prefix, or drop the "
            "window"
        )
    chosen = [p for p in parts if part_day(p.uri) in window]
    if not chosen:
        days = sorted({str(part_day(p.uri)) for p in parts})
        raise DataError(
            f"no part of {uri} lies in the window {window}: its days run from {days[0]} to "
            f"{days[-1]} ({len(days)} days); choose a window that overlaps them"
        )
    return chosen
