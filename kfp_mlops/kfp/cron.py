"""Cron expressions as KFP schedules them: 6 fields, seconds first, checked before any request.

KFP's scheduler reads cron with robfig/cron (https://pkg.go.dev/github.com/robfig/cron):
`second minute hour day-of-month month day-of-week`. Its parser also accepts 5 fields
(seconds first, weekday left out), so a classic 5-field crontab would silently mean
something else there; we refuse it and show the 6-field equivalent instead.
"""

from kfp_mlops.errors import UsageError

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# (name, low, high, names) per field, in order.
FIELDS = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(MONTHS)}),
    ("day-of-week", 0, 6, {d: i for i, d in enumerate(WEEKDAYS)}),
)
DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
FORMAT = "second minute hour day-of-month month day-of-week, e.g. '0 0 6 * * *' (daily 06:00)"


def validate_cron(expr: str) -> str:
    """Return the expression normalised (single spaces), or raise UsageError saying what is wrong.

    Raises:
        UsageError: Wrong number of fields (a 5-field expression gets its 6-field
            equivalent), a value out of range, an unknown name or bad syntax.
    """
    text = " ".join(expr.split())
    if text in DESCRIPTORS:
        return text
    fields = text.split(" ") if text else []
    if len(fields) == 5:
        raise UsageError(
            f"cron {expr!r} has 5 fields; KFP wants 6 with seconds first ({FORMAT}). "
            f"The same schedule at second 0 is: --cron '0 {text}'"
        )
    if len(fields) != 6:
        raise UsageError(f"cron {expr!r} has {len(fields)} field(s); KFP wants 6: {FORMAT}")
    for value, (name, low, high, names) in zip(fields, FIELDS, strict=True):
        for part in value.split(","):
            _check_part(part, name, low, high, names, expr)
    return text


def _check_part(part: str, name: str, low: int, high: int, names: dict, expr: str) -> None:
    where = f"cron {expr!r}, {name} field {part!r}"
    span, slash, step = part.partition("/")
    if slash and not (step.isdigit() and int(step) > 0):
        raise UsageError(f"{where}: the step after '/' must be a positive number")
    if span == "?":
        if name not in ("day-of-month", "day-of-week"):
            raise UsageError(f"{where}: '?' is only allowed for day-of-month and day-of-week")
        return
    if span == "*":
        return
    start, dash, end = span.partition("-")
    first = _number(start, name, low, high, names, where)
    if dash:
        last = _number(end, name, low, high, names, where)
        if last < first:
            raise UsageError(f"{where}: range {first}-{last} runs backwards")


def _number(token: str, name: str, low: int, high: int, names: dict, where: str) -> int:
    if token.upper() in names:
        return names[token.upper()]
    if not token.isdigit():
        hint = f" or one of {list(names)}" if names else ""
        raise UsageError(f"{where}: {token!r} is not a number{hint} (allowed: {low}-{high})")
    value = int(token)
    if not low <= value <= high:
        raise UsageError(f"{where}: {value} is out of range for {name} ({low}-{high})")
    return value
