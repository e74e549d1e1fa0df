"""A job definition as a user submits it (REST, CLI, the publish dialog), checked in full.

Everything is refused up front with a message that names the field: the schedule and time zone,
the webhook (http/https only, no credentials in it), absurd timeouts, retries and limits. What
needs the catalog or the notebook (tier, environment, parameters) is checked where those are read
(`jobs/publish.py`); this module needs neither.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from ..quote import quote
from .schedule import ONCE, Schedule, ScheduleError, parse_schedule

JOB_NAME = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,79}$"
MAX_TIMEOUT = 7 * 24 * 3600
MAX_RETRIES = 20
MAX_CONCURRENCY = 100


class JobError(ValueError):
    """A job definition a person must fix."""


class Retry(BaseModel):
    """Retries with exponential backoff: wait `backoff`, then ×`factor` each time, up to `max_backoff`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    attempts: int = Field(0, ge=0, le=MAX_RETRIES, description="retries after the first try")
    backoff: float = Field(30.0, ge=0, le=24 * 3600, description="seconds before the first retry")
    factor: float = Field(2.0, ge=1, le=10)
    max_backoff: float = Field(3600.0, ge=0, le=7 * 24 * 3600)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        return min(self.backoff * self.factor ** max(attempt - 1, 0), self.max_backoff)


class JobSpec(BaseModel):
    """What a job is: its notebook, when it runs, on what, with which parameters and policies."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=JOB_NAME, description="shown in lists; unique per user")
    notebook: str = Field(min_length=1, max_length=1024, description="path under the server's root")
    timezone: str = Field("UTC", max_length=64)  # before schedule: its validator reads it
    schedule: str = Field("once", max_length=200, description="five-field cron, @daily..., or 'once'")
    tier: str | None = Field(None, max_length=63)
    environment: str | None = Field(None, max_length=63)
    parameters: dict[str, Any] = Field(default_factory=dict)
    timeout: float | None = Field(None, gt=0, le=MAX_TIMEOUT, description="whole-run limit, seconds")
    retry: Retry = Field(default_factory=Retry)
    concurrency: int = Field(1, ge=1, le=MAX_CONCURRENCY, description="runs of this job at once")
    misfire: Literal["once", "skip"] = "once"
    webhook: str | None = Field(None, max_length=2048)
    notify_on: tuple[Literal["failure", "success"], ...] = ("failure",)

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, url: str | None) -> str | None:
        if url is None or url == "":
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{quote(url)} is not an http(s) URL; write e.g. https://hooks.example.com/jobs")
        if parts.username or parts.password:
            raise ValueError("put no user or password in the webhook URL; use a token in its path")
        return url

    @field_validator("notebook")
    @classmethod
    def _notebook(cls, path: str) -> str:
        if "\x00" in path or not path.endswith(".ipynb"):
            raise ValueError(f"{quote(path)} is not a notebook path (NAME.ipynb under your root)")
        return path

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, tz: str) -> str:
        try:
            parse_schedule(ONCE, tz)
        except ScheduleError as e:
            raise ValueError(str(e)) from None
        return tz

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, cron: str, info: ValidationInfo) -> str:
        try:
            return parse_schedule(cron, info.data.get("timezone", "UTC")).cron or ONCE
        except ScheduleError as e:
            raise ValueError(str(e)) from None

    @property
    def when(self) -> Schedule:
        return parse_schedule(self.schedule, self.timezone)


def _field(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "body"


def parse_job(data: object) -> JobSpec:
    """`data` (a JSON object) as a JobSpec, or a JobError listing every field to fix."""
    if not isinstance(data, dict):
        raise JobError(f"a job must be a JSON object, got {quote(data)}")
    try:
        return JobSpec.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors(include_url=False, include_input=False):
            msg = re.sub(r"^Value error, ", "", err["msg"])
            if err["type"] == "extra_forbidden":
                msg = "unknown field; remove it"
            problems.append(f"{_field(err['loc'])}: {msg}")
        raise JobError("; ".join(problems[:20])) from None
