"""Initial schema: feeds, runs, articles, classifications, the digest outbox, leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 21:40:20.632772
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('article',
    sa.Column('pmid', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('journal', sa.String(), nullable=True),
    sa.Column('pub_year', sa.Integer(), nullable=True),
    sa.Column('pub_date_text', sa.String(), nullable=True),
    sa.Column('entrez_date', sa.Date(), nullable=True),
    sa.Column('doi', sa.String(), nullable=True),
    sa.Column('pmcid', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=True),
    sa.Column('retracted', sa.Boolean(), nullable=False),
    sa.Column('has_notice', sa.Boolean(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.Column('record_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pmid', name=op.f('pk_article'))
    )
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_article_doi'), ['doi'], unique=False)
        batch_op.create_index(batch_op.f('ix_article_pub_year'), ['pub_year'], unique=False)

    op.create_table('feed',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('title', sa.String(), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('watermark', sa.Date(), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed'))
    )
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_name'), ['name'], unique=True)

    op.create_table('heartbeat',
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(), nullable=False),
    sa.Column('beat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('holder', name=op.f('pk_heartbeat'))
    )
    op.create_table('lease',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_lease'))
    )
    op.create_table('work_claim',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kind', 'key', name=op.f('pk_work_claim'))
    )
    op.create_table('classification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pmid', sa.String(length=20), nullable=False),
    sa.Column('threshold_weeks', sa.Float(), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('long_term', sa.String(length=16), nullable=False),
    sa.Column('longest_followup_weeks', sa.Float(), nullable=True),
    sa.Column('evidence', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('design', sa.String(), nullable=True),
    sa.Column('sample_size', sa.Integer(), nullable=True),
    sa.Column('relevance', sa.String(), nullable=True),
    sa.Column('outcome_domains', sa.JSON(), nullable=False),
    sa.Column('registry_ids', sa.JSON(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('classified_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pmid'], ['article.pmid'], name=op.f('fk_classification_pmid_article')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classification')),
    sa.UniqueConstraint('pmid', 'threshold_weeks', name=op.f('uq_classification_pmid'))
    )
    with op.batch_alter_table('classification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_classification_pmid'), ['pmid'], unique=False)

    op.create_table('report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feed_id', sa.Integer(), nullable=False),
    sa.Column('week', sa.String(length=10), nullable=False),
    sa.Column('path', sa.String(), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['feed_id'], ['feed.id'], name=op.f('fk_report_feed_id_feed')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report')),
    sa.UniqueConstraint('feed_id', 'week', name=op.f('uq_report_feed_id'))
    )
    op.create_table('run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feed_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(), nullable=False),
    sa.Column('period', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window_start', sa.Date(), nullable=True),
    sa.Column('window_end', sa.Date(), nullable=True),
    sa.Column('found', sa.Integer(), nullable=False),
    sa.Column('fetched', sa.Integer(), nullable=False),
    sa.Column('new', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('linked', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.Column('requests', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('holder', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['feed_id'], ['feed.id'], name=op.f('fk_run_feed_id_feed')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run'))
    )
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.create_index('ix_run_feed_started', ['feed_id', 'started_at'], unique=False)

    op.create_table('digest',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feed_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=40), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('long_term_count', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_holder', sa.String(), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['feed_id'], ['feed.id'], name=op.f('fk_digest_feed_id_feed')),
    sa.ForeignKeyConstraint(['run_id'], ['run.id'], name=op.f('fk_digest_run_id_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_digest')),
    sa.UniqueConstraint('feed_id', 'period', name=op.f('uq_digest_feed_id')),
    sa.UniqueConstraint('message_id', name=op.f('uq_digest_message_id'))
    )
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_digest_status'), ['status'], unique=False)

    op.create_table('digest_recipient',
    sa.Column('digest_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('smtp_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['digest_id'], ['digest.id'], name=op.f('fk_digest_recipient_digest_id_digest')),
    sa.PrimaryKeyConstraint('digest_id', 'address', name=op.f('pk_digest_recipient'))
    )
    op.create_table('feed_article',
    sa.Column('feed_id', sa.Integer(), nullable=False),
    sa.Column('pmid', sa.String(length=20), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_run_id', sa.Integer(), nullable=True),
    sa.Column('digest_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['digest_id'], ['digest.id'], name=op.f('fk_feed_article_digest_id_digest')),
    sa.ForeignKeyConstraint(['feed_id'], ['feed.id'], name=op.f('fk_feed_article_feed_id_feed')),
    sa.ForeignKeyConstraint(['first_run_id'], ['run.id'], name=op.f('fk_feed_article_first_run_id_run')),
    sa.ForeignKeyConstraint(['pmid'], ['article.pmid'], name=op.f('fk_feed_article_pmid_article')),
    sa.PrimaryKeyConstraint('feed_id', 'pmid', name=op.f('pk_feed_article'))
    )
    with op.batch_alter_table('feed_article', schema=None) as batch_op:
        batch_op.create_index('ix_feed_article_digest', ['feed_id', 'digest_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('feed_article', schema=None) as batch_op:
        batch_op.drop_index('ix_feed_article_digest')

    op.drop_table('feed_article')
    op.drop_table('digest_recipient')
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_digest_status'))

    op.drop_table('digest')
    with op.batch_alter_table('run', schema=None) as batch_op:
        batch_op.drop_index('ix_run_feed_started')

    op.drop_table('run')
    op.drop_table('report')
    with op.batch_alter_table('classification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_classification_pmid'))

    op.drop_table('classification')
    op.drop_table('work_claim')
    op.drop_table('lease')
    op.drop_table('heartbeat')
    with op.batch_alter_table('feed', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_name'))

    op.drop_table('feed')
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_article_pub_year'))
        batch_op.drop_index(batch_op.f('ix_article_doi'))

    op.drop_table('article')
