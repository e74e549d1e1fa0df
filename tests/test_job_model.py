"""Job definitions: every bad field refused with a message naming it."""

from __future__ import annotations

import pytest

from jupyter_hybrid.jobs.model import JobError, Retry, parse_job

GOOD = {"name": "nightly report", "notebook": "reports/nightly.ipynb", "schedule": "0 6 * * *"}


def test_a_good_definition_gets_defaults():
    job = parse_job({**GOOD, "timezone": "Europe/Paris", "webhook": "https://hooks.example.com/x"})
    assert job.misfire == "once" and job.concurrency == 1 and job.retry.attempts == 0
    assert job.when.tz == "Europe/Paris" and job.notify_on == ("failure",)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"schedule": "* * * * * *"}, "schedule: schedule '* * * * * *' has 6 fields, not 5"),
        ({"schedule": "@reboot"}, "is not supported"),
        ({"schedule": "61 * * * *"}, "not a valid cron expression"),
        ({"schedule": ""}, "the schedule is empty"),
        ({"timezone": "Mars/Base"}, "timezone: time zone 'Mars/Base' is unknown"),
        ({"webhook": "ftp://example.com/x"}, "webhook: 'ftp://example.com/x' is not an http(s) URL"),
        ({"webhook": "file:///etc/passwd"}, "is not an http(s) URL"),
        ({"webhook": "https://user:pw@example.com/"}, "no user or password"),
        ({"timeout": -1}, "timeout: Input should be greater than 0"),
        ({"timeout": 10**9}, "timeout: Input should be less than or equal to 604800"),
        ({"retry": {"attempts": 1000}}, "retry.attempts: Input should be less than or equal to 20"),
        ({"concurrency": 0}, "concurrency: Input should be greater than or equal to 1"),
        ({"misfire": "all"}, "misfire: Input should be 'once' or 'skip'"),
        ({"notebook": "a.py"}, "is not a notebook path"),
        ({"notebook": "a\x00.ipynb"}, "is not a notebook path"),
        ({"name": "../x"}, "name: String should match pattern"),
        ({"image": "evil"}, "image: unknown field; remove it"),
    ],
)
def test_bad_fields_are_named(change, expected):
    with pytest.raises(JobError) as e:
        parse_job({**GOOD, **change})
    assert expected in str(e.value)


def test_every_problem_at_once_and_never_megabytes_back():
    with pytest.raises(JobError) as e:
        parse_job(
            {**GOOD, "schedule": "x" * 5_000_000, "webhook": "gopher://" + "y" * 5_000_000, "concurrency": 0}
        )
    message = str(e.value)
    assert "schedule" in message and "webhook" in message and "concurrency" in message
    assert len(message) < 1000


def test_not_an_object():
    with pytest.raises(JobError, match="must be a JSON object"):
        parse_job(["x"] * 1000)


def test_backoff_grows_and_is_capped():
    retry = Retry(attempts=5, backoff=10, factor=3, max_backoff=100)
    assert [retry.delay(n) for n in (1, 2, 3, 4)] == [10, 30, 90, 100]
