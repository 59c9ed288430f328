"""Engines for the TOAR database and its schema, on PostgreSQL or SQLite."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.quality import FLAGS
from toar.schema import TOAR_TABLES, data_flag

# Connection execution option: on SQLite, begin transactions holding the write lock.
WRITE_LOCK_OPTION = "toar_write_lock"


def create_engine(url: str) -> Engine:
    """An engine set up for this writer's transactions on PostgreSQL or SQLite."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 120})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            # Writers that read before they write take the write lock up front, so two of them
            # cannot deadlock upgrading read locks; everything else reads beside the writer (WAL).
            immediate = connection.get_execution_options().get(WRITE_LOCK_OPTION, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


_OLD_QUARANTINE_KEY = (
    "SELECT 1 FROM pg_constraint WHERE conname = 'quarantine_source_object_id_fkey' "
    "AND conrelid = 'quarantine'::regclass"
)


# The command that creates or upgrades the schema with the owner's credentials (migrate.py).
MIGRATION_COMMAND = "python -m migrate"
_INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE


class SchemaNotCurrent(RuntimeError):
    """The schema lacks tables or columns, and this connection may not create them."""


def schema_changes(conn: sa.Connection, tables: Iterable[sa.Table]) -> list[str]:
    """What ``ensure_schema`` would change in the schema, looked up without changing anything:
    empty when the schema is current, so a role with data privileges only can use it."""
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names())
    changes = [f"create table {table.name}" for table in tables if table.name not in present]
    for table in TOAR_TABLES:  # columns added since a table was created
        if table.name in present:
            existing = {column["name"] for column in inspector.get_columns(table.name)}
            changes += [f"add column {table.name}.{c.name}" for c in table.columns if c.name not in existing]
    # Left by earlier versions.
    if "data" in present and any(index["name"] == "ix_data_datetime" for index in inspector.get_indexes("data")):
        changes.append("drop index ix_data_datetime")
    if (
        "quarantine" in present
        and conn.dialect.name == "postgresql"
        and conn.execute(sa.text(_OLD_QUARANTINE_KEY)).first()
    ):
        changes.append("drop constraint quarantine_source_object_id_fkey")
    return changes


def _add_missing_columns(conn: sa.Connection, tables: Iterable[sa.Table]) -> None:
    """Columns added since a table was created (nullable, or with a server default), looked up
    first: ALTER TABLE would wait for every open writer of the table."""
    inspector = sa.inspect(conn)
    for table in tables:
        existing = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in existing:
                ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
                conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))


def _change_schema(engine: Engine, tables: tuple[sa.Table, ...]) -> None:
    """Create missing tables and columns, drop what earlier versions left: the owner's work,
    safely when several processes do it at once."""
    with engine.connect().execution_options(**{WRITE_LOCK_OPTION: True}) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7201404)"))  # serialize DDL
        for table in tables:
            table.create(conn, checkfirst=True)
        # The constraint is looked up first, as ALTER TABLE would wait for every open writer of
        # the table; SQLite cannot drop one (its check is cheap there).
        conn.execute(sa.text("DROP INDEX IF EXISTS ix_data_datetime"))
        _add_missing_columns(conn, TOAR_TABLES)
        if conn.dialect.name == "postgresql" and conn.execute(sa.text(_OLD_QUARANTINE_KEY)).first():
            conn.execute(sa.text("ALTER TABLE quarantine DROP CONSTRAINT quarantine_source_object_id_fkey"))


def ensure_schema(engine: Engine, extra_tables: Iterable[sa.Table] = ()) -> None:
    """Make the TOAR tables, and ``extra_tables`` of the layers above (forecasts, failures),
    current, and the data flags complete.

    The schema is looked at first and changed only if it is not current: in production the
    migration command (``MIGRATION_COMMAND``) changes it with the owner's credentials, and runs
    connect with data privileges only. A schema that needs changes this connection may not make
    raises ``SchemaNotCurrent``, naming the command.
    """
    tables = (*TOAR_TABLES, *extra_tables)
    with engine.connect() as conn:
        changes = schema_changes(conn, tables)
    if changes:
        try:
            _change_schema(engine, tables)
        except sa.exc.DBAPIError as exc:
            if getattr(exc.orig, "pgcode", None) != _INSUFFICIENT_PRIVILEGE:
                raise
            raise SchemaNotCurrent(
                f"the TOAR schema is not current ({'; '.join(changes)}) and this role may not change it: "
                f"run `{MIGRATION_COMMAND}` with the schema owner's credentials (README, Deploying)"
            ) from None
    with engine.connect().execution_options(**{WRITE_LOCK_OPTION: True}) as conn, conn.begin():
        existing = set(conn.execute(sa.select(data_flag.c.name)).scalars())
        missing = [{"name": n, "description": d} for n, d in FLAGS.items() if n not in existing]
        if missing:
            conn.execute(data_flag.insert(), missing)
