"""a random identity for each database (the family index kept beside it records it)

Revision ID: 0002
Revises: 0001
"""
import json
import uuid

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    settings = sa.table('settings', sa.column('key', sa.String), sa.column('value', sa.Text))
    op.bulk_insert(settings, [{'key': 'database_id', 'value': json.dumps(uuid.uuid4().hex)}])


def downgrade() -> None:
    op.execute("DELETE FROM settings WHERE key = 'database_id'")
