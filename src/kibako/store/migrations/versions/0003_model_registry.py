"""model registry

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_packages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("arn", sa.String(length=1024), nullable=False),
        sa.Column("artifact_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approval_status", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name=op.f("fk_model_packages_artifact_id_artifacts")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["contexts.id"], name=op.f("fk_model_packages_group_id_contexts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_packages")),
        sa.UniqueConstraint("arn", name=op.f("uq_model_packages_arn")),
        sa.UniqueConstraint("group_id", "version", name=op.f("uq_model_packages_group_id_version")),
    )
    with op.batch_alter_table("model_packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_packages_approval_status_created_ms"),
            ["approval_status", "created_ms"],
            unique=False,
        )
    op.create_table(
        "model_package_metrics",
        sa.Column("package_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["model_packages.id"],
            name=op.f("fk_model_package_metrics_package_id_model_packages"),
        ),
        sa.PrimaryKeyConstraint("package_id", "key", name=op.f("pk_model_package_metrics")),
    )
    with op.batch_alter_table("model_package_metrics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_package_metrics_key_value_package_id"),
            ["key", "value", "package_id"],
            unique=False,
        )
    op.create_table(
        "model_package_history",
        sa.Column("package_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("change", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["model_packages.id"],
            name=op.f("fk_model_package_history_package_id_model_packages"),
        ),
        sa.PrimaryKeyConstraint("package_id", "seq", name=op.f("pk_model_package_history")),
    )
    op.create_table(
        "model_aliases",
        sa.Column("group_id", sa.String(length=32), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("package_id", sa.String(length=32), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["contexts.id"], name=op.f("fk_model_aliases_group_id_contexts")
        ),
        sa.ForeignKeyConstraint(
            ["package_id"], ["model_packages.id"], name=op.f("fk_model_aliases_package_id_model_packages")
        ),
        sa.PrimaryKeyConstraint("group_id", "alias", name=op.f("pk_model_aliases")),
    )
    with op.batch_alter_table("model_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_aliases_package_id"), ["package_id"], unique=False)


def downgrade() -> None:
    op.drop_table("model_aliases")
    op.drop_table("model_package_history")
    with op.batch_alter_table("model_package_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_package_metrics_key_value_package_id"))
    op.drop_table("model_package_metrics")
    with op.batch_alter_table("model_packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_packages_approval_status_created_ms"))
    op.drop_table("model_packages")
