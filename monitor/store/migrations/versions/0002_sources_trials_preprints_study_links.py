"""Other sources and one study, many records: ClinicalTrials.gov trials, Europe PMC preprints
(article.source), study links, per-source watermarks, re-check flags (corrections, retractions).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:07:18.818702
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('trial',
    sa.Column('nct_id', sa.String(length=20), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('status', sa.String(), nullable=True),
    sa.Column('start_date', sa.String(), nullable=True),
    sa.Column('primary_completion_date', sa.String(), nullable=True),
    sa.Column('completion_date', sa.String(), nullable=True),
    sa.Column('first_posted', sa.String(), nullable=True),
    sa.Column('last_update_posted', sa.String(), nullable=True),
    sa.Column('enrollment', sa.Integer(), nullable=True),
    sa.Column('enrollment_type', sa.String(), nullable=True),
    sa.Column('has_results', sa.Boolean(), nullable=False),
    sa.Column('outcomes', sa.JSON(), nullable=False),
    sa.Column('reference_pmids', sa.JSON(), nullable=False),
    sa.Column('record', sa.JSON(), nullable=False),
    sa.Column('record_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nct_id', name=op.f('pk_trial'))
    )
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trial_last_update_posted'), ['last_update_posted'], unique=False)

    op.create_table('feed_source',
    sa.Column('feed_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('watermark', sa.Date(), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['feed_id'], ['feed.id'], name=op.f('fk_feed_source_feed_id_feed')),
    sa.PrimaryKeyConstraint('feed_id', 'source', name=op.f('pk_feed_source'))
    )
    op.create_table('study_link',
    sa.Column('record_id', sa.String(length=20), nullable=False),
    sa.Column('study_id', sa.String(length=20), nullable=False),
    sa.Column('linked_by', sa.String(), nullable=True),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['article.pmid'], name=op.f('fk_study_link_record_id_article')),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_study_link'))
    )
    with op.batch_alter_table('study_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_study_link_study_id'), ['study_id'], unique=False)

    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default=sa.text("'pubmed'"), nullable=False))
        batch_op.add_column(sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('flagged_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('feed_article', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flag_pending', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('flag_digest_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_feed_article_flag_digest_id_digest'), 'digest', ['flag_digest_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('feed_article', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_feed_article_flag_digest_id_digest'), type_='foreignkey')
        batch_op.drop_column('flag_digest_id')
        batch_op.drop_column('flag_pending')

    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.drop_column('flagged_at')
        batch_op.drop_column('checked_at')
        batch_op.drop_column('source')

    with op.batch_alter_table('study_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_study_link_study_id'))

    op.drop_table('study_link')
    op.drop_table('feed_source')
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trial_last_update_posted'))

    op.drop_table('trial')
