"""enforcement campaigns catalogue

Revision ID: e1b0173ce820
Revises: 97ccbf134e16
Create Date: 2026-12-04 13:27:58.968912

The free-text campaign of a sanction becomes a reference to a catalogue row: each distinct
text already stored becomes a campaign led by the ministry, starting on the earliest
decision that named it, so no tag is lost; going down writes the name back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "e1b0173ce820"
down_revision = "97ccbf134e16"
branch_labels = None
depends_on = None


def _create_campaign_table() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("lead_authority_id", sa.Integer(), nullable=False),
        sa.Column("legal_basis", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "ends_on IS NULL OR ends_on >= starts_on", name=op.f("ck_campaign_period")
        ),
        sa.ForeignKeyConstraint(
            ["lead_authority_id"],
            ["authority.id"],
            name=op.f("fk_campaign_lead_authority_id_authority"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
        sa.UniqueConstraint("name", name=op.f("uq_campaign_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_campaign_slug")),
    )
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_lead_authority_id"), ["lead_authority_id"], unique=False
        )


def _catalogue_free_text() -> None:
    """One campaign per distinct free-text tag, and each sanction pointed at its row."""
    conn = op.get_bind()
    tags = conn.execute(
        sa.text(
            "SELECT campaign, MIN(decided_on) FROM sanction WHERE campaign <> '' "
            "GROUP BY campaign ORDER BY MIN(decided_on), campaign"
        )
    ).all()
    if not tags:
        return
    ministry = conn.execute(sa.text("SELECT id FROM authority WHERE code = 'MIIT'")).scalar()
    now = registry.db.utcnow()
    for number, (name, starts_on) in enumerate(tags, start=1):
        conn.execute(
            sa.text(
                "INSERT INTO campaign (slug, name, starts_on, lead_authority_id, legal_basis,"
                " description, created_at, updated_at, version_id) VALUES (:slug, :name,"
                " :starts_on, :lead, '', '', :now, :now, 1)"
            ).bindparams(
                # starts_on goes back as the backend gave it (a date, or ISO text on SQLite)
                sa.bindparam("now", type_=registry.db.UTCDateTime(timezone=True)),
            ),
            {
                "slug": f"campaign-{number}",
                "name": name[:200],
                "starts_on": starts_on,
                "lead": ministry,
                "now": now,
            },
        )
    conn.execute(
        sa.text(
            "UPDATE sanction SET campaign_id = (SELECT id FROM campaign"
            " WHERE campaign.name = sanction.campaign) WHERE campaign <> ''"
        )
    )


def upgrade() -> None:
    _create_campaign_table()
    with op.batch_alter_table("listing", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_listing_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_listing_campaign_id_campaign"), "campaign", ["campaign_id"], ["id"]
        )
    with op.batch_alter_table("sanction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_sanction_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_sanction_campaign_id_campaign"), "campaign", ["campaign_id"], ["id"]
        )
    _catalogue_free_text()
    with op.batch_alter_table("sanction", schema=None) as batch_op:
        batch_op.drop_column("campaign")


def downgrade() -> None:
    with op.batch_alter_table("sanction", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("campaign", sa.String(length=200), nullable=False, server_default="")
        )
    op.execute(
        "UPDATE sanction SET campaign = (SELECT name FROM campaign"
        " WHERE campaign.id = sanction.campaign_id) WHERE campaign_id IS NOT NULL"
    )
    with op.batch_alter_table("sanction", schema=None) as batch_op:
        batch_op.alter_column("campaign", server_default=None)
        batch_op.drop_constraint(batch_op.f("fk_sanction_campaign_id_campaign"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_sanction_campaign_id"))
        batch_op.drop_column("campaign_id")
    with op.batch_alter_table("listing", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_listing_campaign_id_campaign"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_listing_campaign_id"))
        batch_op.drop_column("campaign_id")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_lead_authority_id"))
    op.drop_table("campaign")
