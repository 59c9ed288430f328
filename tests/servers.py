"""Helpers for tests and benchmarks that start servers on loopback or use the local PostgreSQL."""

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Poll ``url`` until it answers; fail early if the server process died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                detail = process.stderr.read().decode()[-2000:] if process.stderr else ""
                raise AssertionError(f"{url} did not come up (exit code {process.poll()}): {detail}")
            time.sleep(0.5)
