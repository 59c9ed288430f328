"""Throwaway databases on the local PostgreSQL server (127.0.0.1:5432, trust auth)."""

import contextlib
import os
import uuid

import sqlalchemy as sa

# Admin connection to the local PostgreSQL server; tests create and drop their own databases.
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def throwaway_postgres(label: str = "toar"):
    """A new PostgreSQL database on the local server, dropped afterwards; yields its URL."""
    name = f"{label}_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
