"""Job schedules: cron validation, time zones, due times and misfire policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jupyter_hybrid.jobs.schedule import ScheduleError, check_misfire, parse_schedule


@pytest.mark.parametrize(
    "cron, expected",
    [
        ("* * * * * *", "has 6 fields, not 5"),
        ("@reboot", "is not supported"),
        ("61 * * * *", "is not a valid cron expression"),
        ("", "the schedule is empty"),
        ("   ", "the schedule is empty"),
        ("* * * *", "has 4 fields, not 5"),
        (42, "is not a cron expression"),
        ("x" * 10_000, "is not a cron expression"),
    ],
)
def test_bad_cron_is_refused_with_the_accepted_forms(cron, expected):
    with pytest.raises(ScheduleError, match=expected) as e:
        parse_schedule(cron)
    assert len(str(e.value)) < 300


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../../etc/passwd", None, "x" * 1000])
def test_bad_time_zone_is_refused(tz):
    with pytest.raises(ScheduleError, match="time zone"):
        parse_schedule("0 6 * * *", tz)


def test_next_due_time_follows_the_time_zone():
    schedule = parse_schedule("0 6 * * 1-5", "Europe/Paris")
    # Friday 2026-12-04 10:00 UTC -> next is Monday 06:00 Paris (05:00 UTC in winter)
    assert schedule.next_after(datetime(2026, 12, 4, 10, tzinfo=UTC)) == datetime(2026, 12, 7, 5, tzinfo=UTC)
    assert "Monday through Friday" in schedule.describe() and "Europe/Paris" in schedule.describe()


def test_once_means_no_recurring_due_time():
    once = parse_schedule("once")
    assert once.cron is None and once.describe() == "once, when published"
    assert once.due(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)) == []


def test_on_time_and_missed_runs_fire_once_never_n_times():
    hourly = parse_schedule("0 * * * *")
    last = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    assert hourly.due(last, datetime(2026, 12, 4, 9, 59, tzinfo=UTC)) == []
    on_time = datetime(2026, 12, 4, 10, 0, 0, 200_000, tzinfo=UTC)
    assert hourly.due(last, on_time, "skip") == [datetime(2026, 12, 4, 10, tzinfo=UTC)]
    down_until = datetime(2026, 12, 4, 15, 20, tzinfo=UTC)  # five due times missed while down
    assert hourly.due(last, down_until, "once") == [datetime(2026, 12, 4, 15, tzinfo=UTC)]
    assert hourly.due(last, down_until, "skip") == []
    assert hourly.due(last, down_until - timedelta(minutes=19, seconds=30), "skip") == [
        datetime(2026, 12, 4, 15, tzinfo=UTC)
    ]


def test_misfire_policy_is_checked():
    assert check_misfire("skip") == "skip"
    with pytest.raises(ScheduleError, match="use 'once' \\(default\\) or 'skip'"):
        check_misfire("all")


def test_nicknames_are_described_in_words():
    assert parse_schedule("@daily", "UTC").describe() == "At 00:00 (UTC)"
    assert parse_schedule("@hourly", "UTC").describe().startswith("Every hour")
