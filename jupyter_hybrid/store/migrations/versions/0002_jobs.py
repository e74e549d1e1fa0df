"""Scheduled jobs: jobs, their frozen versions, runs, and the allocation ledger.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
NOW = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "jh_job",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("next_due", NOW, nullable=True),
        sa.Column("created_at", NOW, nullable=False),
        sa.Column("updated_at", NOW, nullable=False),
        sa.UniqueConstraint("owner", "name"),
    )
    op.create_index("ix_jh_job_owner", "jh_job", ["owner"])
    op.create_index("ix_jh_job_next_due", "jh_job", ["next_due"])
    op.create_table(
        "jh_job_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jh_job.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("notebook", JSON, nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("snapshot_id", sa.String(64), nullable=True),
        sa.Column("created_at", NOW, nullable=False),
        sa.UniqueConstraint("job_id", "number"),
    )
    op.create_index("ix_jh_job_version_job_id", "jh_job_version", ["job_id"])
    op.create_table(
        "jh_run",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jh_job.id", ondelete="SET NULL"), nullable=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("job_name", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("retry_of", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("due_at", NOW, nullable=True),
        sa.Column("queued_at", NOW, nullable=False),
        sa.Column("not_before", NOW, nullable=True),
        sa.Column("started_at", NOW, nullable=True),
        sa.Column("ended_at", NOW, nullable=True),
        sa.Column("tier", sa.String(63), nullable=True),
        sa.Column("environment", sa.String(63), nullable=True),
        sa.Column("site", sa.String(63), nullable=True),
        sa.Column("snapshot_id", sa.String(64), nullable=True),
        sa.Column("handle", JSON, nullable=True),
        sa.Column("output", sa.Text, nullable=True),
        sa.Column("error", JSON, nullable=True),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_until", NOW, nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed', 'cancelled')", name="jh_run_status"
        ),
        sa.UniqueConstraint("job_id", "due_at", "attempt", name="uq_jh_run_due"),
    )
    op.create_index("ix_jh_run_job_id", "jh_run", ["job_id"])
    op.create_index("ix_jh_run_owner", "jh_run", ["owner"])
    op.create_index("ix_jh_run_status_queued", "jh_run", ["status", "queued_at"])
    op.create_table(
        "jh_allocation",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("site", sa.String(63), nullable=False),
        sa.Column("tier", sa.String(63), nullable=False),
        sa.Column("cpu", sa.Float, nullable=False),
        sa.Column("memory", sa.BigInteger, nullable=False),
        sa.Column("gpu", sa.Integer, nullable=False),
        sa.Column("gpu_model", sa.String(128), nullable=True),
        sa.Column("gpus", JSON, nullable=False),
        sa.Column("created_at", NOW, nullable=False),
        sa.UniqueConstraint("kind", "ref"),
        sa.CheckConstraint("kind IN ('server', 'run', 'deployment')", name="jh_allocation_kind"),
    )
    op.create_index("ix_jh_allocation_owner", "jh_allocation", ["owner"])
    op.create_index("ix_jh_allocation_site", "jh_allocation", ["site"])


def downgrade() -> None:
    for table in ("jh_allocation", "jh_run", "jh_job_version", "jh_job"):
        op.drop_table(table)
