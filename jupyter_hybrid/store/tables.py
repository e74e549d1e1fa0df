"""The schema: SQLAlchemy 2.0 declarative models. Only this room owns it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PIN_KINDS = ("job", "api")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base; ``Base.metadata`` is what :func:`make_engine` creates."""


metadata = Base.metadata
_Json = JSON().with_variant(JSONB(), "postgresql")
_Now = DateTime(timezone=True)


class SnapshotBody(Base):
    """The captured content, stored once per content address (sha256 hex)."""

    __tablename__ = "jh_snapshot_body"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(_Json)
    # derived from ``body`` at save time so listing never reads the heavy JSON
    python: Mapped[str | None] = mapped_column(String(64))
    packages: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(_Now, default=utcnow)


class SnapshotRecord(Base):
    """One user's entry for a body: their name, note and sharing choice."""

    __tablename__ = "jh_snapshot_record"
    __table_args__ = (UniqueConstraint("owner", "snapshot_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    snapshot_id: Mapped[str] = mapped_column(ForeignKey(SnapshotBody.id), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(_Now, default=utcnow)


class Pin(Base):
    """A job or model API (``kind``, ``ref``) that runs with a snapshot and keeps it alive."""

    __tablename__ = "jh_pin"
    __table_args__ = (
        UniqueConstraint("kind", "ref"),
        CheckConstraint("kind IN ('job', 'api')", name="jh_pin_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[str] = mapped_column(ForeignKey(SnapshotBody.id), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(_Now, default=utcnow)
