"""The TOAR database: PostgreSQL in production, a SQLite file by default."""

from __future__ import annotations

from typing import Any

import sqlalchemy.exc
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import Engine

import toar.database
from domain.secrets import encode_credentials, mask_secrets, url_secrets
from forecasting.tables import FORECAST_TABLES


class ToarDatabaseError(RuntimeError):
    """The TOAR database could not be opened; the message holds no credential."""


class ToarDatabaseUnavailable(ToarDatabaseError, sqlalchemy.exc.OperationalError):
    """The TOAR database could not be reached (refused, lost, timed out). An OperationalError,
    like the driver's error it replaces, so what retries those (the assets' transient errors)
    retries it; its text is only the masked message."""

    def __init__(self, message: str):
        sqlalchemy.exc.OperationalError.__init__(self, None, None, ToarDatabaseError(message))
        self.args = (message,)

    def __str__(self) -> str:
        return self.args[0]

    def __reduce__(self):  # pickled by its message alone (Dagster's multiprocess executor)
        return type(self), self.args


class ToarDatabase(ConfigurableResource):
    """Hands out one engine per process. On first use the schema is checked, and created or
    upgraded only where it is not current (``python -m migrate`` does that in production, so a
    run's role needs data privileges only; without it such a role fails naming the command)."""

    url: str = Field(description="SQLAlchemy URL, e.g. postgresql+psycopg2://user@host/db or sqlite:///file")

    _engine: Any = PrivateAttr(default=None)

    def engine(self) -> Engine:
        """The engine, connected once to create the schema.

        A failure raises ``ToarDatabaseError`` (``ToarDatabaseUnavailable`` if the database could
        not be reached) with the URL and the cause masked: the driver's
        message can quote the URL, and the original exception is not chained (``from None``),
        so its text travels nowhere (event log, compute logs, tracebacks).
        """
        if self._engine is None:
            # SQLAlchemy reads an un-encoded "@" as the end of the password and hands the rest to
            # the driver as the host name, which its errors print; encoded, each part stays whole.
            url = encode_credentials(self.url)
            engine, failure = None, None
            error_type: type[ToarDatabaseError] = ToarDatabaseError
            try:
                engine = toar.database.create_engine(url)
                toar.database.ensure_schema(engine, extra_tables=FORECAST_TABLES)
            except Exception as exc:  # any error (URL parsing, driver, server) may quote the URL
                failure = f"{type(exc).__name__}: {mask_secrets(str(exc), url_secrets(self.url))}"
                if isinstance(exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
                    error_type = ToarDatabaseUnavailable
            if failure is not None:
                if engine is not None:
                    engine.dispose()
                # Raised outside the except block: the original is neither cause nor context.
                raise error_type(f"could not open the TOAR database {self.display_url()}: {failure}") from None
            self._engine = engine
        return self._engine

    def display_url(self) -> str:
        """The URL with every credential masked, for logs and metadata."""
        return mask_secrets(self.url, url_secrets(self.url))
