"""the web application: a user's language, notifications in the reader's language, and the
register of issued PDF reports; candidates indexed by status and LR (dashboards, charts)

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as b:
        b.add_column(sa.Column('language', sa.String(length=8), nullable=True))
    op.create_index('ix_match_candidates_status_log10_lr', 'match_candidates', ['status', 'log10_lr'])
    with op.batch_alter_table('notifications', schema=None) as b:
        b.add_column(sa.Column('message_params', sa.Text(), nullable=True))
    op.create_table('issued_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('issued_by', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('kinship', 'operation', 'statistics')", name='ck_issued_reports_kind'),
    sa.CheckConstraint("language IN ('en', 'zh_CN')", name='ck_issued_reports_language'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )


def downgrade() -> None:
    op.drop_table('issued_reports')
    op.drop_index('ix_match_candidates_status_log10_lr', table_name='match_candidates')
    with op.batch_alter_table('notifications', schema=None) as b:
        b.drop_column('message_params')
    with op.batch_alter_table('users', schema=None) as b:
        b.drop_column('language')
