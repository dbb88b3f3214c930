"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 16:56:03.527005
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('num_rows', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('person_details',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_kind', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('contact', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('person_details', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_details_subject_id'), ['subject_id'], unique=False)

    op.create_table('settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('families',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('population', sa.String(length=64), nullable=True),
    sa.Column('family_type', sa.String(length=64), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_families_code'), ['code'], unique=True)

    op.create_table('samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('profile', sa.Text(), nullable=False),
    sa.Column('num_loci', sa.Integer(), nullable=False),
    sa.Column('lab', sa.String(length=128), nullable=True),
    sa.Column('typed_on', sa.Date(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_samples_code'), ['code'], unique=True)

    op.create_table('family_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('person_code', sa.String(length=128), nullable=False),
    sa.Column('father_code', sa.String(length=128), nullable=True),
    sa.Column('mother_code', sa.String(length=128), nullable=True),
    sa.Column('sex', sa.String(length=1), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('family_id', 'person_code')
    )
    with op.batch_alter_table('family_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_family_members_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_family_members_sample_id'), ['sample_id'], unique=False)

    op.create_table('unidentified',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('sex', sa.String(length=1), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('estimated_birth_date', sa.Date(), nullable=True),
    sa.Column('found_date', sa.Date(), nullable=True),
    sa.Column('found_place', sa.Text(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], ),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('unidentified', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unidentified_code'), ['code'], unique=True)
        batch_op.create_index(batch_op.f('ix_unidentified_sample_id'), ['sample_id'], unique=False)

    op.create_table('match_candidates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unidentified_id', sa.Integer(), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=False),
    sa.Column('missing_code', sa.String(length=128), nullable=False),
    sa.Column('lr', sa.Float(), nullable=False),
    sa.Column('log10_lr', sa.Float(), nullable=False),
    sa.Column('loci_compared', sa.Integer(), nullable=False),
    sa.Column('inconsistent_loci', sa.Text(), nullable=False),
    sa.Column('lr_per_locus', sa.Text(), nullable=False),
    sa.Column('provenance', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ),
    sa.ForeignKeyConstraint(['unidentified_id'], ['unidentified.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unidentified_id', 'family_id', 'missing_code')
    )
    with op.batch_alter_table('match_candidates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_candidates_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_candidates_unidentified_id'), ['unidentified_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('match_candidates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_match_candidates_unidentified_id'))
        batch_op.drop_index(batch_op.f('ix_match_candidates_family_id'))

    op.drop_table('match_candidates')
    with op.batch_alter_table('unidentified', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unidentified_sample_id'))
        batch_op.drop_index(batch_op.f('ix_unidentified_code'))

    op.drop_table('unidentified')
    with op.batch_alter_table('family_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_family_members_sample_id'))
        batch_op.drop_index(batch_op.f('ix_family_members_family_id'))

    op.drop_table('family_members')
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_samples_code'))

    op.drop_table('samples')
    with op.batch_alter_table('families', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_families_code'))

    op.drop_table('families')
    op.drop_table('settings')
    with op.batch_alter_table('person_details', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_details_subject_id'))

    op.drop_table('person_details')
    op.drop_table('import_batches')
