"""the workflow: jurisdictions and agencies, users, roles and tokens, the audit chain,
missing-child reports and references' consent, rescue operations, registration checks
(claimed parents), candidate review and history, confirmation tests, outcomes, follow-ups,
notifications; unidentified persons gain operation, places, placement, owner and status;
samples may be owned by claimed parents and confirmation tests

Revision ID: 0004
Revises: 0003

Every row of a database made by the previous release is kept: its unidentified persons are
national records (jurisdiction NULL) until assigned, and its candidates are 'new'.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

GENESIS_MAC = '0' * 64
OLD_OWNER_KINDS = "owner_kind IS NULL OR owner_kind IN ('family_member', 'unidentified')"
NEW_OWNER_KINDS = ("owner_kind IS NULL OR owner_kind IN ('family_member', 'unidentified', "
                   "'claimed_parent', 'confirmation')")


def upgrade() -> None:
    with op.batch_alter_table('samples', schema=None) as b:
        b.drop_constraint('ck_samples_owner_kind', type_='check')
        b.create_check_constraint('ck_samples_owner_kind', NEW_OWNER_KINDS)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.CheckConstraint('id = 1', name='ck_audit_head_single'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=True),
    sa.Column('entity_id', sa.String(length=128), nullable=True),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('prev_mac', sa.String(length=64), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )
    op.create_table('jurisdictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('name_zh', sa.String(length=128), nullable=True),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.CheckConstraint("level IN ('national', 'province', 'prefecture', 'county')", name='ck_jurisdictions_level'),
    sa.ForeignKeyConstraint(['parent_id'], ['jurisdictions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code'),
    sa.UniqueConstraint('path')
    )
    op.create_table('agencies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_zh', sa.String(length=255), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=True),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('rescue_operations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('operation_date', sa.Date(), nullable=True),
    sa.Column('place_id', sa.Integer(), nullable=True),
    sa.Column('place_detail', sa.Text(), nullable=True),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('suspects_case_number', sa.String(length=128), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], ),
    sa.ForeignKeyConstraint(['place_id'], ['jurisdictions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    with op.batch_alter_table('rescue_operations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rescue_operations_jurisdiction_id'), ['jurisdiction_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=True),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('totp_secret', sa.String(length=64), nullable=True),
    sa.Column('totp_last_step', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default='1', nullable=False),
    sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('auth_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('csrf_hash', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=128), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("kind IN ('session', 'api')", name='ck_auth_tokens_kind'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('auth_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('missing_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('family_id', sa.Integer(), nullable=True),
    sa.Column('missing_code', sa.String(length=128), nullable=True),
    sa.Column('child_sex', sa.String(length=1), nullable=False),
    sa.Column('child_birth_date', sa.Date(), nullable=True),
    sa.Column('child_birth_date_latest', sa.Date(), nullable=True),
    sa.Column('missing_date', sa.Date(), nullable=True),
    sa.Column('missing_place_id', sa.Integer(), nullable=True),
    sa.Column('missing_place_detail', sa.Text(), nullable=True),
    sa.Column('circumstances', sa.Text(), nullable=True),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('investigator_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=32), server_default='open', nullable=False),
    sa.Column('closed_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("child_sex IN ('M', 'F', 'U')", name='ck_missing_reports_sex'),
    sa.CheckConstraint("status <> 'closed' OR closed_reason IS NOT NULL", name='ck_missing_reports_closed_reason'),
    sa.CheckConstraint("status IN ('open', 'candidate_under_review', 'identified', 'closed')", name='ck_missing_reports_status'),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.ForeignKeyConstraint(['family_id'], ['families.id'], ),
    sa.ForeignKeyConstraint(['investigator_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], ),
    sa.ForeignKeyConstraint(['missing_place_id'], ['jurisdictions.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code'),
    sa.UniqueConstraint('family_id')
    )
    with op.batch_alter_table('missing_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_missing_reports_jurisdiction_id'), ['jurisdiction_id'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('entity', sa.String(length=64), nullable=True),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivery', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_user_unread', ['user_id', 'read_at'], unique=False)

    op.create_table('user_roles',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.CheckConstraint("role IN ('analyst', 'investigator', 'reviewer', 'welfare', 'registration', 'administrator', 'auditor')", name='ck_user_roles_role'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('user_id', 'role')
    )
    op.create_table('reference_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('family_member_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('relation', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), server_default='given', nullable=False),
    sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('document', sa.Text(), nullable=True),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_by', sa.String(length=64), nullable=True),
    sa.Column('withdrawn_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("state = 'given' OR (withdrawn_at IS NOT NULL AND withdrawn_reason IS NOT NULL)", name='ck_reference_consents_withdrawn'),
    sa.CheckConstraint("state IN ('given', 'withdrawn')", name='ck_reference_consents_state'),
    sa.ForeignKeyConstraint(['family_member_id'], ['family_members.id'], ),
    sa.ForeignKeyConstraint(['report_id'], ['missing_reports.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('family_member_id')
    )
    with op.batch_alter_table('reference_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reference_consents_report_id'), ['report_id'], unique=False)

    op.create_table('outcomes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unidentified_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('outcome_date', sa.Date(), nullable=False),
    sa.Column('officer_id', sa.Integer(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('returned_home', 'family_refused', 'welfare_placement', 'foster_care', 'adoption_referral')", name='ck_outcomes_kind'),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], ),
    sa.ForeignKeyConstraint(['officer_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['report_id'], ['missing_reports.id'], ),
    sa.ForeignKeyConstraint(['unidentified_id'], ['unidentified.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outcomes_jurisdiction_id'), ['jurisdiction_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outcomes_unidentified_id'), ['unidentified_id'], unique=False)

    op.create_table('registration_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('unidentified_id', sa.Integer(), nullable=False),
    sa.Column('registration_number', sa.String(length=128), nullable=True),
    sa.Column('lr', sa.Float(), nullable=False),
    sa.Column('log10_lr', sa.Float(), nullable=False),
    sa.Column('lr_per_locus', sa.Text(), nullable=False),
    sa.Column('inconsistent_loci', sa.Text(), nullable=False),
    sa.Column('verbal', sa.Text(), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('provenance', sa.Text(), nullable=False),
    sa.Column('jurisdiction_id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('consistent', 'flagged')", name='ck_registration_checks_status'),
    sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], ),
    sa.ForeignKeyConstraint(['jurisdiction_id'], ['jurisdictions.id'], ),
    sa.ForeignKeyConstraint(['unidentified_id'], ['unidentified.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code'),
    sa.UniqueConstraint('unidentified_id')
    )
    with op.batch_alter_table('registration_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_checks_jurisdiction_id'), ['jurisdiction_id'], unique=False)

    op.create_table('candidate_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=32), nullable=True),
    sa.Column('to_status', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['candidate_id'], ['match_candidates.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('candidate_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidate_events_candidate_id'), ['candidate_id'], unique=False)

    op.create_table('candidate_reviews',
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('assigned_to', sa.Integer(), nullable=True),
    sa.Column('confirmation_requested_by', sa.String(length=64), nullable=True),
    sa.Column('confirmed_by', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('below_threshold', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status <> 'confirmed' OR confirmed_by <> confirmation_requested_by", name='ck_candidate_reviews_four_eyes'),
    sa.CheckConstraint("status IN ('new', 'assigned', 'under_review', 'confirmation_requested', 'confirmed', 'rejected', 'set_aside')", name='ck_candidate_reviews_status'),
    sa.CheckConstraint("status NOT IN ('rejected', 'set_aside') OR reason IS NOT NULL", name='ck_candidate_reviews_reason'),
    sa.ForeignKeyConstraint(['assigned_to'], ['users.id'], ),
    sa.ForeignKeyConstraint(['candidate_id'], ['match_candidates.id'], ),
    sa.PrimaryKeyConstraint('candidate_id')
    )
    op.create_table('claimed_parents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('check_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=8), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('sample_owner_kind', sa.String(length=16), server_default='claimed_parent', nullable=False),
    sa.CheckConstraint("role IN ('father', 'mother')", name='ck_claimed_parents_role'),
    sa.CheckConstraint("sample_owner_kind = 'claimed_parent'", name='ck_claimed_parents_owner_kind'),
    sa.ForeignKeyConstraint(['check_id'], ['registration_checks.id'], ),
    sa.ForeignKeyConstraint(['sample_id', 'sample_owner_kind'], ['samples.id', 'samples.owner_kind'], name='fk_claimed_parents_sample_owner'),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('check_id', 'role', name='uq_claimed_parents_check_role'),
    sa.UniqueConstraint('sample_id')
    )
    with op.batch_alter_table('claimed_parents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claimed_parents_check_id'), ['check_id'], unique=False)

    op.create_table('confirmation_tests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('sample_owner_kind', sa.String(length=16), server_default='confirmation', nullable=False),
    sa.Column('target', sa.String(length=128), nullable=False),
    sa.Column('lr', sa.Float(), nullable=False),
    sa.Column('log10_lr', sa.Float(), nullable=False),
    sa.Column('lr_per_locus', sa.Text(), nullable=False),
    sa.Column('inconsistent_loci', sa.Text(), nullable=False),
    sa.Column('provenance', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("sample_owner_kind = 'confirmation'", name='ck_confirmation_tests_owner_kind'),
    sa.ForeignKeyConstraint(['candidate_id'], ['match_candidates.id'], ),
    sa.ForeignKeyConstraint(['sample_id', 'sample_owner_kind'], ['samples.id', 'samples.owner_kind'], name='fk_confirmation_tests_sample_owner'),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sample_id')
    )
    with op.batch_alter_table('confirmation_tests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_confirmation_tests_candidate_id'), ['candidate_id'], unique=False)

    op.create_table('follow_ups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('outcome_id', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('officer_id', sa.Integer(), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_by', sa.String(length=64), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['officer_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['outcome_id'], ['outcomes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('follow_ups', schema=None) as batch_op:
        batch_op.create_index('ix_follow_ups_due_open', ['due_date', 'done_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_ups_outcome_id'), ['outcome_id'], unique=False)

    with op.batch_alter_table('unidentified', schema=None) as batch_op:
        batch_op.add_column(sa.Column('operation_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('found_place_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('jurisdiction_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('agency_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('placement_kind', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('placement_name', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='unidentified', nullable=False))
        batch_op.add_column(sa.Column('identified_report_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_unidentified_jurisdiction_id'), ['jurisdiction_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_unidentified_operation_id'), ['operation_id'], unique=False)
        batch_op.create_foreign_key('fk_unidentified_operation', 'rescue_operations', ['operation_id'], ['id'])
        batch_op.create_foreign_key('fk_unidentified_found_place', 'jurisdictions', ['found_place_id'], ['id'])
        batch_op.create_foreign_key('fk_unidentified_jurisdiction', 'jurisdictions', ['jurisdiction_id'], ['id'])
        batch_op.create_foreign_key('fk_unidentified_agency', 'agencies', ['agency_id'], ['id'])
        batch_op.create_foreign_key('fk_unidentified_identified_report', 'missing_reports', ['identified_report_id'], ['id'])

    with op.batch_alter_table('match_candidates', schema=None) as batch_op:  # 'confirmation_requested'
        batch_op.alter_column('status', existing_type=sa.String(length=16), type_=sa.String(length=32),
                              existing_nullable=False)

    op.execute(f"INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, '{GENESIS_MAC}')")
    op.execute("INSERT INTO jurisdictions (code, name, name_zh, level, parent_id, path) "
               "VALUES ('CN', 'National', '全国', 'national', NULL, 'CN/')")


def downgrade() -> None:
    op.execute("UPDATE match_candidates SET status = 'under_review' WHERE status = 'confirmation_requested'")
    with op.batch_alter_table('match_candidates', schema=None) as b:
        b.alter_column('status', existing_type=sa.String(length=32), type_=sa.String(length=16),
                       existing_nullable=False)
    with op.batch_alter_table('unidentified', schema=None) as b:
        for fk in ('fk_unidentified_identified_report', 'fk_unidentified_agency', 'fk_unidentified_jurisdiction',
                   'fk_unidentified_found_place', 'fk_unidentified_operation'):
            b.drop_constraint(fk, type_='foreignkey')
        b.drop_index('ix_unidentified_operation_id')
        b.drop_index('ix_unidentified_jurisdiction_id')
        for c in ('identified_report_id', 'status', 'placement_name', 'placement_kind', 'agency_id',
                  'jurisdiction_id', 'found_place_id', 'operation_id'):
            b.drop_column(c)
    for table in ('follow_ups', 'confirmation_tests', 'claimed_parents', 'candidate_reviews', 'candidate_events',
                  'registration_checks', 'outcomes', 'reference_consents', 'user_roles', 'notifications',
                  'missing_reports', 'auth_tokens', 'users', 'rescue_operations', 'agencies', 'jurisdictions',
                  'audit_log', 'audit_head'):
        op.drop_table(table)
    op.execute("UPDATE samples SET owner_kind = NULL WHERE owner_kind IN ('claimed_parent', 'confirmation')")
    with op.batch_alter_table('samples', schema=None) as b:
        b.drop_constraint('ck_samples_owner_kind', type_='check')
        b.create_check_constraint('ck_samples_owner_kind', OLD_OWNER_KINDS)
