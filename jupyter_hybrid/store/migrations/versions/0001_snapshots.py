"""The schema of the first release: snapshots (bodies, per-user records) and pins.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
NOW = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jh_snapshot_body",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("body", JSON, nullable=False),
        sa.Column("python", sa.String(64), nullable=True),
        sa.Column("packages", sa.Integer, nullable=False),
        sa.Column("created_at", NOW, nullable=False),
    )
    op.create_table(
        "jh_snapshot_record",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("snapshot_id", sa.String(64), sa.ForeignKey("jh_snapshot_body.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("created_at", NOW, nullable=False),
        sa.UniqueConstraint("owner", "snapshot_id"),
    )
    op.create_index("ix_jh_snapshot_record_owner", "jh_snapshot_record", ["owner"])
    op.create_index("ix_jh_snapshot_record_snapshot_id", "jh_snapshot_record", ["snapshot_id"])
    op.create_table(
        "jh_pin",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("snapshot_id", sa.String(64), sa.ForeignKey("jh_snapshot_body.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("created_at", NOW, nullable=False),
        sa.UniqueConstraint("kind", "ref"),
        sa.CheckConstraint("kind IN ('job', 'api')", name="jh_pin_kind"),
    )
    op.create_index("ix_jh_pin_snapshot_id", "jh_pin", ["snapshot_id"])


def downgrade() -> None:
    op.drop_table("jh_pin")
    op.drop_table("jh_snapshot_record")
    op.drop_table("jh_snapshot_body")
