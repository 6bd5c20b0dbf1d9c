"""The kinds of value a pipeline parameter can be: each says what it accepts and what is wrong."""

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class Rule(Protocol):
    """One parameter's rule: what it accepts, and what is wrong with a value (None if fine)."""

    accepts: str

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Why `value` breaks the rule, or None; `params` holds every effective value."""


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    low_text = "-inf" if low is None else _number(low)
    high_text = "inf" if high is None else _number(high)
    return f"{left}{low_text}, {high_text}{right}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Number:
    """A finite number in an interval; with `unset_below_zero`, any negative value means unset."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    unset_below_zero: bool = False

    @property
    def accepts(self) -> str:
        """The accepted values, as the error states them."""
        text = f"a finite number in {_interval(self.low, self.high, self.low_open, self.high_open)}"
        return text + (", or below 0 to unset it" if self.unset_below_zero else "")

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Out of range or not finite (the type is checked before this rule)."""
        if not math.isfinite(value):
            return "is not a finite number"
        if self.unset_below_zero and value < 0:
            return None
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (
            value >= self.high if self.high_open else value > self.high
        )
        return "is out of range" if below or above else None


@dataclass(frozen=True)
class Choice:
    """A name from a registry; the registry is imported only when a value is checked."""

    registry: Callable[[], Iterable[str]]
    what: str

    @property
    def accepts(self) -> str:
        """The accepted values, as the error states them."""
        return f"one of {sorted(self.registry())} ({self.what})"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Not a registered name."""
        return None if value in set(self.registry()) else f"is not a known {self.what}"


@dataclass(frozen=True)
class Text:
    """A non-empty string (a column, a model name, a URI)."""

    what: str

    @property
    def accepts(self) -> str:
        """The accepted values, as the error states them."""
        return f"a non-empty string ({self.what})"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Empty or blank."""
        return "is empty" if not value.strip() else None


@dataclass(frozen=True)
class Uri:
    """A data URI load_data can read: a local path, file:// or s3://BUCKET/KEY-or-PREFIX/."""

    optional: bool = False  # "" means "not given" (e.g. reference_uri: ask the champion)
    accepts: str = "a local path, file://PATH or s3://BUCKET/KEY (a prefix ends in '/')"
    versions: bool = False  # read by load_data, which also reads dataset://NAME@... versions

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Empty when required, an unsupported scheme, or an s3:// URI without bucket or key."""
        from components._shared.errors import DataError
        from components._shared.input_checks import check_scheme

        if not value.strip():
            return None if self.optional else "is empty"
        if self.versions and value.startswith("dataset://"):
            from components._shared.datasets.refs import SYNTAX, parse_ref
            from components._shared.errors import ConfigError

            try:
                parse_ref(value)  # the syntax only: whether it exists is load_data's to say
            except ConfigError as exc:
                # The detail alone: the message then says what is accepted, once.
                text, prefix = str(exc), f"bad dataset reference {value!r}"
                if text.startswith(prefix):
                    text = text.removeprefix(prefix).lstrip(": ").removesuffix(f"; {SYNTAX}")
                return f"is not a dataset reference ({text})"
            return None
        try:
            check_scheme(value)  # the same check load_data makes, here before any task runs
        except DataError as exc:
            return str(exc).removeprefix(f"cannot read {value}: ")
        bucket, _, key = value.removeprefix("s3://").partition("/")
        if value.startswith("s3://") and not (bucket and key):
            return "names no bucket and key (or prefix ending in '/')"
        return None


@dataclass(frozen=True)
class Day:
    """A day of a prediction-log window, or "" (that side open).

    The start day's rule also checks the whole window (start after end, days given with
    current_last_days) with the same DateWindow load_data builds, so it is said once.
    """

    starts: bool
    window: str = "current"  # the window's parameters: <window>_start_date, _end_date, _last_days
    accepts: str = "a day like 2026-11-30 (YYYY-MM-DD, UTC) or empty"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Not a day; for the start day, also a window that does not hold together."""
        from components._shared.errors import ConfigError
        from components._shared.io.partitions import DateWindow

        try:
            DateWindow.of(value, "", 0)
        except ConfigError as exc:
            return f"is refused: {exc}"
        if not self.starts:
            return None
        end = params.get(f"{self.window}_end_date", "")
        try:
            DateWindow.of(end, "", 0)
        except ConfigError:
            end = ""  # its own rule says what is wrong with it
        try:
            DateWindow.of(value, end, max(int(params.get(f"{self.window}_last_days", 0)), 0))
        except ConfigError as exc:
            return f"is refused: {exc}"
        return None


@dataclass(frozen=True)
class Names:
    """A list of distinct, non-empty column names; `required` refuses an empty list."""

    what: str
    required: bool = False

    @property
    def accepts(self) -> str:
        """The accepted values, as the error states them."""
        size = "one or more" if self.required else "zero or more"
        return f"a list of {size} distinct column names ({self.what})"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """Empty when required, a non-string or blank item, or a repeated name."""
        if self.required and not value:
            return "is empty"
        bad = [v for v in value if not isinstance(v, str) or not v.strip()]
        if bad:
            return f"holds items that are not column names: {bad}"
        repeated = sorted({v for v in value if value.count(v) > 1})
        return f"names {repeated} more than once" if repeated else None


@dataclass(frozen=True)
class PositiveNumbers:
    """A mapping of names to positive finite numbers (per-column drift thresholds)."""

    what: str

    @property
    def accepts(self) -> str:
        """The accepted values, as the error states them."""
        return f"a mapping of column name to a finite number > 0 ({self.what})"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """A value that is not a positive finite number."""
        bad = {
            k: v
            for k, v in value.items()
            if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0
        }
        return f"has values that are not numbers > 0: {bad}" if bad else None


@dataclass(frozen=True)
class Bounds:
    """A mapping of metric names (from a registry) to minimums in [0, 1]."""

    registry: Callable[[], Iterable[str]]
    what: str

    @property
    def accepts(self) -> str:
        """The accepted values, as the error states them."""
        return f"a mapping of metric name (one of {sorted(self.registry())}) to a number in [0, 1]"

    def problem(self, value: Any, params: Mapping[str, Any]) -> str | None:
        """An unknown metric name, or a bound that is not a number in [0, 1]."""
        unknown = sorted(k for k in value if k not in set(self.registry()))
        if unknown:
            return f"names unknown {self.what} metric(s) {unknown}"
        bad = {
            k: v
            for k, v in value.items()
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1
        }
        return f"has bounds that are not numbers in [0, 1]: {bad}" if bad else None
