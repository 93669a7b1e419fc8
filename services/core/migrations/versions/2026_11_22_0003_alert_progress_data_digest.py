"""alert progress: a digest of the counts each evaluation read

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 12:40:00

- `alert_progress.data_digest`: per-block hashes of the province's daily totals up to
  `evaluated_through`, as the evaluation read them (event time). The alerts service compares
  them with the stored counts on every clock tick and at start-up, and re-evaluates from the
  earliest changed block: a change whose notice was lost is no longer missed. Rows from before
  this revision hold NULL (unknown): each such (province, rule) is re-evaluated once from its
  first day, which rewrites nothing unless the counts did change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_progress", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data_digest", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_progress", schema=None) as batch_op:
        batch_op.drop_column("data_digest")
