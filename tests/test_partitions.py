"""Date windows over `date=YYYY-MM-DD/` partitions: the prediction log read by day."""

from datetime import date

import pytest

from components._shared.errors import ConfigError, DataError
from components._shared.io.partitions import DateWindow, in_window, part_day
from components._shared.io.parts import Part

LOG = "s3://kfp-mlops-data/predictions/german-credit/"


def parts(*days: str) -> list[Part]:
    return [Part(f"{LOG}date={day}/1700000000-{i}.parquet", 10) for i, day in enumerate(days)]


def test_date_window_of_fixed_days_is_inclusive_on_both_sides():
    window = DateWindow.of("2026-11-01", "2026-11-03", 0)
    assert date(2026, 11, 1) in window and date(2026, 11, 3) in window
    assert date(2026, 10, 31) not in window and date(2026, 11, 4) not in window
    assert str(window) == "2026-11-01..2026-11-03"


def test_date_window_of_last_days_ends_today():
    window = DateWindow.of("", "", 3, today=date(2026, 11, 30))
    assert (window.start, window.end) == (date(2026, 11, 28), date(2026, 11, 30))


def test_date_window_open_sides_and_empty():
    assert not DateWindow.of("", "", 0)
    assert date(1999, 1, 1) in DateWindow.of("", "2026-11-30", 0)
    assert date(2999, 1, 1) in DateWindow.of("2026-11-30", "", 0)


@pytest.mark.parametrize(
    ("start", "end", "last", "message"),
    [
        ("2026-11-31", "", 0, "start_date='2026-11-31' is not a date like 2026-11-30"),
        ("20261130", "", 0, "is not a date like"),
        ("", "30/11/2026", 0, "end_date='30/11/2026' is not a date"),
        ("2026-11-30", "2026-11-01", 0, "is after end_date 2026-11-01; swap them"),
        ("2026-11-01", "", 7, "either last_days"),
        ("", "", -2, "last_days=-2 is negative"),
    ],
)
def test_date_window_refuses_what_is_not_a_window(start, end, last, message):
    with pytest.raises(ConfigError, match=message):
        DateWindow.of(start, end, last)


def test_part_day_reads_the_innermost_date_folder():
    assert part_day(f"{LOG}date=2026-11-29/x.parquet") == date(2026, 11, 29)
    assert part_day(f"{LOG}x.parquet") is None
    assert part_day("s3://b/mandate=2026-11-29/x.parquet") is None


def test_in_window_keeps_the_days_in_it_in_order():
    chosen = in_window(
        parts("2026-11-27", "2026-11-28", "2026-11-29"),
        DateWindow.of("2026-11-28", "2026-11-29", 0),
        LOG,
    )
    assert [part_day(p.uri).day for p in chosen] == [28, 29]


def test_in_window_without_a_window_keeps_every_part():
    every = [*parts("2026-11-27"), Part(f"{LOG}loose.parquet", 1)]
    assert in_window(every, DateWindow(), LOG) == every


def test_in_window_no_day_in_it_names_the_days_there_are():
    with pytest.raises(DataError, match=r"days run from 2026-11-27 to 2026-11-29 \(2 days\)"):
        in_window(parts("2026-11-27", "2026-11-29"), DateWindow.of("2026-12-01", "", 0), LOG)


def test_in_window_parts_outside_any_date_folder_are_refused():
    mixed = [*parts("2026-11-27"), Part(f"{LOG}loose.parquet", 1)]
    with pytest.raises(DataError, match=r"holds parts outside any.*loose\.parquet"):
        in_window(mixed, DateWindow.of("2026-11-27", "", 0), LOG)
