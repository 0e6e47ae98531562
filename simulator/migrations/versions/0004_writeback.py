"""writeback: outbox (endpoints, messages, attempts), LMS learning, AMS writeback inbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:00:00

Hand-written; branches from 0001 beside the SSO migrations (the app upgrades to every head).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _tenant(table: str) -> list:
    return [
        sa.Column('tenant_id', sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=f'fk_{table}_tenant_id_tenants', ondelete='CASCADE'),
    ]


def upgrade() -> None:
    """Create the outbox, LMS learning and AMS writeback tables."""
    op.create_table(
        'outbox_endpoints',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        *_tenant('outbox_endpoints'),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('secret', sa.String(length=200), nullable=False),
        sa.Column('topics', JSON, nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('disabled_reason', sa.Text(), nullable=True),
        sa.Column('disabled_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_outbox_endpoints'),
        sa.UniqueConstraint('tenant_id', 'name', name='uq_outbox_endpoints_tenant_id_name'),
    )
    op.create_table(
        'outbox_messages',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        *_tenant('outbox_messages'),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.String(length=120), nullable=False),
        sa.Column('topic', sa.String(length=80), nullable=False),
        sa.Column('payload', JSON, nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('lease_until', sa.DateTime(), nullable=True),
        sa.Column('claim_token', sa.String(length=40), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('delivered_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['endpoint_id'], ['outbox_endpoints.id'], name='fk_outbox_messages_endpoint_id_outbox_endpoints', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_outbox_messages'),
        sa.UniqueConstraint('tenant_id', 'message_id', name='uq_outbox_messages_tenant_id_message_id'),
    )
    op.create_index('ix_outbox_messages_due', 'outbox_messages', ['tenant_id', 'state', 'next_attempt_at'])
    op.create_index('ix_outbox_messages_endpoint', 'outbox_messages', ['endpoint_id', 'state'])
    op.create_table(
        'outbox_attempts',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        *_tenant('outbox_attempts'),
        sa.Column('message_pk', BIG_ID, nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('attempted_at', sa.DateTime(), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('latency_ms', sa.Float(), nullable=False),
        sa.Column('response_snippet', sa.Text(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(['message_pk'], ['outbox_messages.id'], name='fk_outbox_attempts_message_pk_outbox_messages', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_outbox_attempts'),
    )
    op.create_index('ix_outbox_attempts_message', 'outbox_attempts', ['message_pk'])

    op.create_table(
        'lms_courses',
        sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
        *_tenant('lms_courses'),
        sa.Column('code', sa.String(length=40), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('contact_hours', sa.Float(), nullable=False),
        sa.Column('credit_type', sa.String(length=8), nullable=False),
        sa.Column('pass_mark', sa.Float(), nullable=True),
        sa.Column('attendance_threshold_minutes', sa.Integer(), nullable=True),
        sa.Column('duration_minutes', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('pk', name='pk_lms_courses'),
        sa.UniqueConstraint('tenant_id', 'code', name='uq_lms_courses_tenant_id_code'),
    )
    op.create_table(
        'lms_enrollments',
        sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
        *_tenant('lms_enrollments'),
        sa.Column('learner_pk', sa.Integer(), nullable=False),
        sa.Column('course_pk', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('progress_percent', sa.Float(), nullable=False),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('minutes_attended', sa.Integer(), nullable=True),
        sa.Column('certificate_number', sa.String(length=40), nullable=True),
        sa.Column('credits_awarded', sa.Float(), nullable=True),
        sa.Column('enrolled_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('completed_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['learner_pk'], ['lms_learners.pk'], name='fk_lms_enrollments_learner_pk_lms_learners', ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['course_pk'], ['lms_courses.pk'], name='fk_lms_enrollments_course_pk_lms_courses', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pk', name='pk_lms_enrollments'),
        sa.UniqueConstraint('tenant_id', 'learner_pk', 'course_pk', name='uq_lms_enrollments_tenant_id_learner_pk_course_pk'),
    )
    op.create_index('ix_lms_enrollments_tenant_course', 'lms_enrollments', ['tenant_id', 'course_pk'])
    op.create_table(
        'lms_learning_events',
        sa.Column('pk', BIG_ID, autoincrement=True, nullable=False),
        *_tenant('lms_learning_events'),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('enrollment_pk', sa.Integer(), nullable=False),
        sa.Column('trigger', sa.String(length=40), nullable=False),
        sa.Column('occurred_at', sa.DateTime(), nullable=False),
        sa.Column('context', JSON, nullable=False),
        sa.ForeignKeyConstraint(['enrollment_pk'], ['lms_enrollments.pk'], name='fk_lms_learning_events_enrollment_pk_lms_enrollments', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('pk', name='pk_lms_learning_events'),
        sa.UniqueConstraint('tenant_id', 'event_id', name='uq_lms_learning_events_tenant_id_event_id'),
    )
    op.create_index('ix_lms_learning_events_enrollment', 'lms_learning_events', ['enrollment_pk'])
    op.create_table(
        'lms_held_writebacks',
        sa.Column('pk', BIG_ID, autoincrement=True, nullable=False),
        *_tenant('lms_held_writebacks'),
        sa.Column('envelope_id', sa.String(length=80), nullable=False),
        sa.Column('rule', sa.String(length=80), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.Column('envelope', JSON, nullable=False),
        sa.PrimaryKeyConstraint('pk', name='pk_lms_held_writebacks'),
        sa.UniqueConstraint('tenant_id', 'envelope_id', name='uq_lms_held_writebacks_tenant_id_envelope_id'),
    )
    op.create_index('ix_lms_held_writebacks_due', 'lms_held_writebacks', ['tenant_id', 'rule', 'due_at'])

    op.create_table(
        'ams_inbox_secrets',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        *_tenant('ams_inbox_secrets'),
        sa.Column('secret', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_ams_inbox_secrets'),
    )
    op.create_table(
        'ams_writeback_records',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        *_tenant('ams_writeback_records'),
        sa.Column('record_id', sa.String(length=120), nullable=False),
        sa.Column('destination', sa.String(length=20), nullable=False),
        sa.Column('member_id', sa.String(length=64), nullable=False),
        sa.Column('activity_code', sa.String(length=120), nullable=False),
        sa.Column('activity_title', sa.String(length=300), nullable=True),
        sa.Column('completed_on', sa.Date(), nullable=False),
        sa.Column('credit_type', sa.String(length=8), nullable=True),
        sa.Column('credits', sa.Float(), nullable=True),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('passed', sa.Boolean(), nullable=True),
        sa.Column('certificate_number', sa.String(length=80), nullable=True),
        sa.Column('value', sa.Text(), nullable=True),
        sa.Column('trigger', sa.String(length=40), nullable=True),
        sa.Column('format', sa.String(length=20), nullable=True),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_ams_writeback_records'),
        sa.UniqueConstraint('tenant_id', 'record_id', name='uq_ams_writeback_records_tenant_id_record_id'),
        sa.UniqueConstraint('tenant_id', 'destination', 'member_id', 'activity_code', 'completed_on', name='uq_ams_writeback_records_natural_key'),
    )
    op.create_index('ix_ams_writeback_records_member', 'ams_writeback_records', ['tenant_id', 'member_id', 'destination'])
    op.create_table(
        'ams_inbox_entries',
        sa.Column('id', BIG_ID, autoincrement=True, nullable=False),
        *_tenant('ams_inbox_entries'),
        sa.Column('record_id', sa.String(length=120), nullable=True),
        sa.Column('result', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('member_id', sa.String(length=64), nullable=True),
        sa.Column('destination', sa.String(length=20), nullable=True),
        sa.Column('webhook_id', sa.String(length=120), nullable=True),
        sa.Column('envelope', JSON, nullable=True),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_ams_inbox_entries'),
    )
    op.create_index('ix_ams_inbox_entries_tenant_result', 'ams_inbox_entries', ['tenant_id', 'result', 'id'])
    op.create_table(
        'ams_member_tags',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        *_tenant('ams_member_tags'),
        sa.Column('member_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('source_record_id', sa.String(length=120), nullable=False),
        sa.Column('added_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_ams_member_tags'),
        sa.UniqueConstraint('tenant_id', 'member_id', 'kind', 'name', name='uq_ams_member_tags_tenant_id_member_id_kind_name'),
    )


def downgrade() -> None:
    """Drop the writeback tables (children first)."""
    for table in (
        'ams_member_tags', 'ams_inbox_entries', 'ams_writeback_records', 'ams_inbox_secrets',
        'lms_held_writebacks', 'lms_learning_events', 'lms_enrollments', 'lms_courses',
        'outbox_attempts', 'outbox_messages', 'outbox_endpoints',
    ):
        op.drop_table(table)
