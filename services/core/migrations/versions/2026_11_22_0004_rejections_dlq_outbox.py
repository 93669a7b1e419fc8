"""rejections: the DLQ's outbox (original key, published_at)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 13:05:00

- `rejections.key`: the message's original Kafka key, so a relayed DLQ copy keeps it.
- `rejections.published_at`: set once the message is on `incidents.dlq`. Ingest relays rows left
  NULL by a crash between its commit and its publish. Rows from before this revision are taken
  as published (they were sent, or their moment has passed).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rejections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE rejections SET published_at = received_at")
    with op.batch_alter_table("rejections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rejections_unpublished",
            ["seq"],
            unique=False,
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("rejections", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_rejections_unpublished",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )
        batch_op.drop_column("published_at")
        batch_op.drop_column("key")
