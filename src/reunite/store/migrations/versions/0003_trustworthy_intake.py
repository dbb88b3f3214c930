"""trustworthy intake: one owner per sample (constraints), pending searches, import reports,
record versions (corrections), Amelogenin/Y-STR and withdrawal on samples, what is known of a
missing child (dates, place), identity flags on candidates

Revision ID: 0003
Revises: 0002

"A sample belongs to one person" is held by the database itself:
- ``samples.owner_kind`` is NULL (unassigned), 'family_member' or 'unidentified';
- ``family_members`` and ``unidentified`` carry ``sample_owner_kind`` (CHECK: their own kind)
  and a composite foreign key (sample_id, sample_owner_kind) -> samples (id, owner_kind), so a
  sample can only be referenced by rows of the kind it is assigned to;
- ``family_members.sample_id`` and ``unidentified.sample_id`` are UNIQUE, so within that kind
  it is one person.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _check_one_owner_per_sample() -> None:
    """Earlier releases let two concurrent imports give one sample to two people; such a
    database cannot take the constraints until an analyst decides who the sample belongs to."""
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT s.code, COUNT(*) FROM samples s JOIN ("
        " SELECT sample_id FROM family_members WHERE sample_id IS NOT NULL"
        " UNION ALL SELECT sample_id FROM unidentified) o ON o.sample_id = s.id"
        " GROUP BY s.code HAVING COUNT(*) > 1 ORDER BY s.code")).all()
    if rows:
        listed = ", ".join(f"{code!r} ({n} people)" for code, n in rows[:20])
        from reunite.store.db import StoreError

        raise StoreError(
            f"cannot upgrade: {len(rows)} sample(s) belong to more than one person: {listed}"
            f"{' ...' if len(rows) > 20 else ''}. A sample is one person; decide who each belongs to, "
            "remove the other links in the old release, then upgrade again (nothing was changed)")


def upgrade() -> None:
    _check_one_owner_per_sample()
    with op.batch_alter_table('import_batches', schema=None) as b:
        b.add_column(sa.Column('report', sa.Text(), nullable=True))
        b.add_column(sa.Column('file_sha256', sa.String(length=64), nullable=True))
        b.add_column(sa.Column('created_by', sa.String(length=128), nullable=True))

    with op.batch_alter_table('samples', schema=None) as b:
        b.add_column(sa.Column('owner_kind', sa.String(length=16), nullable=True))
        b.add_column(sa.Column('status', sa.String(length=16), nullable=False, server_default='active'))
        b.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        b.add_column(sa.Column('amelogenin', sa.String(length=16), nullable=True))
        b.add_column(sa.Column('y_profile', sa.Text(), nullable=True))
        b.create_unique_constraint('uq_samples_id_owner_kind', ['id', 'owner_kind'])
        b.create_check_constraint(
            'ck_samples_owner_kind', "owner_kind IS NULL OR owner_kind IN ('family_member', 'unidentified')")
        b.create_check_constraint('ck_samples_status', "status IN ('active', 'withdrawn')")

    # samples already assigned by earlier releases get their owner's kind
    op.execute("UPDATE samples SET owner_kind = 'family_member' WHERE id IN "
               "(SELECT sample_id FROM family_members WHERE sample_id IS NOT NULL)")
    op.execute("UPDATE samples SET owner_kind = 'unidentified' WHERE owner_kind IS NULL AND id IN "
               "(SELECT sample_id FROM unidentified)")

    with op.batch_alter_table('family_members', schema=None) as b:
        b.add_column(sa.Column('sample_owner_kind', sa.String(length=16), nullable=True))
        b.add_column(sa.Column('birth_date', sa.Date(), nullable=True))
        b.add_column(sa.Column('missing_date', sa.Date(), nullable=True))
        b.add_column(sa.Column('missing_place', sa.Text(), nullable=True))
    op.execute("UPDATE family_members SET sample_owner_kind = 'family_member' WHERE sample_id IS NOT NULL")
    with op.batch_alter_table('family_members', schema=None) as b:
        b.drop_index('ix_family_members_sample_id')
        b.create_index('ix_family_members_sample_id', ['sample_id'], unique=True)
        b.create_check_constraint(
            'ck_family_members_sample_owner_kind',
            "(sample_id IS NULL AND sample_owner_kind IS NULL) OR "
            "(sample_id IS NOT NULL AND COALESCE(sample_owner_kind, '') = 'family_member')")
        b.create_foreign_key('fk_family_members_sample_owner', 'samples',
                             ['sample_id', 'sample_owner_kind'], ['id', 'owner_kind'])

    with op.batch_alter_table('unidentified', schema=None) as b:
        b.add_column(sa.Column('sample_owner_kind', sa.String(length=16), nullable=False,
                               server_default='unidentified'))
    with op.batch_alter_table('unidentified', schema=None) as b:
        b.drop_index('ix_unidentified_sample_id')
        b.create_index('ix_unidentified_sample_id', ['sample_id'], unique=True)
        b.create_check_constraint('ck_unidentified_sample_owner_kind', "sample_owner_kind = 'unidentified'")
        b.create_foreign_key('fk_unidentified_sample_owner', 'samples',
                             ['sample_id', 'sample_owner_kind'], ['id', 'owner_kind'])

    with op.batch_alter_table('match_candidates', schema=None) as b:
        b.add_column(sa.Column('flags', sa.Text(), nullable=False, server_default=''))

    op.create_table(
        'pending_searches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('subject_id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'subject_id', name='uq_pending_searches_kind_subject'),
        sa.CheckConstraint("kind IN ('unidentified', 'family')", name='ck_pending_searches_kind'),
    )

    op.create_table(
        'record_versions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entity', sa.String(length=32), nullable=False),
        sa.Column('entity_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('changed_by', sa.String(length=128), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('entity', 'entity_id', 'version', name='uq_record_versions_entity_version'),
    )
    with op.batch_alter_table('record_versions', schema=None) as b:
        b.create_index('ix_record_versions_entity', ['entity', 'entity_id'], unique=False)


def downgrade() -> None:
    op.drop_table('record_versions')
    op.drop_table('pending_searches')
    with op.batch_alter_table('match_candidates', schema=None) as b:
        b.drop_column('flags')
    with op.batch_alter_table('unidentified', schema=None) as b:
        b.drop_constraint('fk_unidentified_sample_owner', type_='foreignkey')
        b.drop_constraint('ck_unidentified_sample_owner_kind', type_='check')
        b.drop_index('ix_unidentified_sample_id')
        b.create_index('ix_unidentified_sample_id', ['sample_id'], unique=False)
        b.drop_column('sample_owner_kind')
    with op.batch_alter_table('family_members', schema=None) as b:
        b.drop_constraint('fk_family_members_sample_owner', type_='foreignkey')
        b.drop_constraint('ck_family_members_sample_owner_kind', type_='check')
        b.drop_index('ix_family_members_sample_id')
        b.create_index('ix_family_members_sample_id', ['sample_id'], unique=False)
        for c in ('missing_place', 'missing_date', 'birth_date', 'sample_owner_kind'):
            b.drop_column(c)
    with op.batch_alter_table('samples', schema=None) as b:
        b.drop_constraint('ck_samples_status', type_='check')
        b.drop_constraint('ck_samples_owner_kind', type_='check')
        b.drop_constraint('uq_samples_id_owner_kind', type_='unique')
        for c in ('y_profile', 'amelogenin', 'version', 'status', 'owner_kind'):
            b.drop_column(c)
    with op.batch_alter_table('import_batches', schema=None) as b:
        for c in ('created_by', 'file_sha256', 'report'):
            b.drop_column(c)
