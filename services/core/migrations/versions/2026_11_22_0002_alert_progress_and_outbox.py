"""alert progress and the transitions outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 12:00:00

- `alert_progress`: the last day the alerts service evaluated per (province, rule), so a restart
  resumes where the last committed evaluation stopped.
- `alert_transitions.published_at`: NULL until the transition was relayed to the `alerts` topic
  (acknowledgements written by the api included), with a partial index on the unpublished rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_progress",
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("clock", sa.String(length=16), nullable=False),
        sa.Column("rule_hash", sa.String(length=64), nullable=False),
        sa.Column("evaluated_through", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("province", "rule", name=op.f("pk_alert_progress")),
    )
    with op.batch_alter_table("alert_transitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_alert_transitions_unpublished",
            ["seq"],
            unique=False,
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_transitions", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_alert_transitions_unpublished",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )
        batch_op.drop_column("published_at")
    op.drop_table("alert_progress")
