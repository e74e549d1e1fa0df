"""Runs say why they still wait (`waiting`) and on which host their process runs (`host`).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jh_run") as batch:
        batch.add_column(sa.Column("waiting", sa.Text, nullable=True))
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jh_run") as batch:
        batch.drop_column("host")
        batch.drop_column("waiting")
