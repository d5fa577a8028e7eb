"""Indexes on article.source and article.pmcid: study linking looks records up by both once
per stored batch (the preprints and trials among all records; the batch's PMCIDs), and without
an index each lookup read the whole article table — a backfill's cost grew with the square of
its size.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 02:40:00
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_article_source'), ['source'], unique=False)
        batch_op.create_index(batch_op.f('ix_article_pmcid'), ['pmcid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_article_pmcid'))
        batch_op.drop_index(batch_op.f('ix_article_source'))
