"""Alembic environment used for the core's and every plugin's branch.

erpkit runs it in-process (see :mod:`erpkit.core.migrate`), handing over the
connection, the branch's version table and the metadata in ``config.attributes``.
"""

from alembic import context

config = context.config
connection = config.attributes["connection"]

tables = config.attributes.get("tables")


def include_object(obj, name, type_, reflected, compare_to):
    # a branch compares only its own tables: the others belong to other plugins
    if tables is None:
        return True
    table = obj if type_ == "table" else getattr(obj, "table", None)
    table_name = name if type_ == "table" else getattr(table, "name", None)
    return table_name in tables


def render_item(type_, obj, autogen_context):
    # UTCDateTime is a Python-side wrapper; the column is a plain timezone-aware DateTime
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    render_item=render_item,
    include_object=include_object,
    target_metadata=config.attributes["metadata"],
    version_table=config.attributes["version_table"],
    # SQLite cannot ALTER most things in place; batch mode copies the table
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    transaction_per_migration=False,
)

with context.begin_transaction():
    context.run_migrations()
