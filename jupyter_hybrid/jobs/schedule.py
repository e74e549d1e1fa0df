"""Job schedules: five-field cron in a time zone, or "once, now"; due times and misfires.

croniter alone accepts a sixth (seconds) field and reads nothing about reboots; a schedule here is
exactly what a person writes in a crontab (five fields, or @hourly/@daily/@weekly/@monthly/@yearly)
plus an IANA time zone. Pure: the clock is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import Options, get_description
from croniter import croniter

from ..quote import quote

ONCE = "once"
MISFIRE_POLICIES = ("once", "skip")
_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_LENGTH = 200
TZ_HINT = "use an IANA name such as 'Europe/Paris', 'America/New_York' or 'UTC'"
CRON_HINT = (
    "write five fields 'minute hour day month weekday', e.g. '0 6 * * 1-5', or @daily/@hourly, or 'once'"
)


class ScheduleError(ValueError):
    """A schedule a person must fix; the message quotes it and shows the accepted forms."""


@dataclass(frozen=True)
class Schedule:
    """A validated schedule; `cron` is None for a job that runs once, when published."""

    cron: str | None
    tz: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def describe(self) -> str:
        """'At 06:00, Monday through Friday (Europe/Paris)', or 'once, when published'."""
        if self.cron is None:
            return "once, when published"
        options = Options()
        options.use_24hour_time_format = True  # "At 06:00", read the same everywhere
        return f"{get_description(_NICKNAMES.get(self.cron, self.cron), options)} ({self.tz})"

    def next_after(self, moment: datetime) -> datetime | None:
        """The first due time strictly after `moment` (aware, UTC), or None for a one-off."""
        if self.cron is None:
            return None
        local = moment.astimezone(self.zone)
        return croniter(self.cron, local).get_next(datetime).astimezone(UTC)

    def due(
        self, last: datetime, now: datetime, misfire: str = "once", grace: float = 60.0
    ) -> list[datetime]:
        """Runs to fire at `now` when the schedule was last looked at `last`.

        A due time at most `grace` seconds old is on time. Due times missed for longer (the
        control plane was down) fire once, as the latest of them, when `misfire` is 'once', and
        not at all when 'skip' — never N times.
        """
        nxt = self.next_after(last)
        if nxt is None or nxt > now:
            return []
        latest = nxt
        while (after := self.next_after(latest)) is not None and after <= now:
            latest = after
        if (now - latest).total_seconds() <= grace or misfire == "once":
            return [latest]
        return []


def parse_schedule(cron: object, tz: object = "UTC") -> Schedule:
    """Validate what a user typed; `cron` 'once' (or empty None) makes a one-off job."""
    if not isinstance(tz, str) or not tz or len(tz) > 64:
        raise ScheduleError(
            f"time zone {quote(tz)} is not valid: use an IANA name such as 'Europe/Paris' or 'UTC'"
        )
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"time zone {quote(tz)} is unknown: {TZ_HINT}") from None
    if cron is None or cron == ONCE:
        return Schedule(cron=None, tz=tz)
    if not isinstance(cron, str) or len(cron) > MAX_LENGTH:
        raise ScheduleError(f"schedule {quote(cron)} is not a cron expression")
    text = " ".join(cron.split())
    if not text:
        raise ScheduleError(f"the schedule is empty: {CRON_HINT}")
    if text.startswith("@") and text not in _NICKNAMES:
        raise ScheduleError(f"schedule {quote(cron)} is not supported: {CRON_HINT}")
    if not text.startswith("@") and len(text.split(" ")) != 5:
        raise ScheduleError(f"schedule {quote(cron)} has {len(text.split(' '))} fields, not 5: {CRON_HINT}")
    if not croniter.is_valid(text):
        raise ScheduleError(f"schedule {quote(cron)} is not a valid cron expression: {CRON_HINT}")
    return Schedule(cron=text, tz=tz)


def check_misfire(policy: object) -> str:
    if policy not in MISFIRE_POLICIES:
        raise ScheduleError(f"misfire policy {quote(policy)} is unknown: use 'once' (default) or 'skip'")
    return policy
