"""The TOAR database: PostgreSQL in production, a SQLite file by default."""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import Engine

import toar.database
from domain.secrets import encode_credentials, mask_secrets, url_secrets
from forecasting.tables import ozone_forecast


class ToarDatabaseError(RuntimeError):
    """The TOAR database could not be opened; the message holds no credential."""


class ToarDatabase(ConfigurableResource):
    """Hands out one engine per process, with the schema created on first use."""

    url: str = Field(description="SQLAlchemy URL, e.g. postgresql+psycopg2://user@host/db or sqlite:///file")

    _engine: Any = PrivateAttr(default=None)

    def engine(self) -> Engine:
        """The engine, connected once to create the schema.

        A failure raises ``ToarDatabaseError`` with the URL and the cause masked: the driver's
        message can quote the URL, and the original exception is not chained (``from None``),
        so its text travels nowhere (event log, compute logs, tracebacks).
        """
        if self._engine is None:
            # SQLAlchemy reads an un-encoded "@" as the end of the password and hands the rest to
            # the driver as the host name, which its errors print; encoded, each part stays whole.
            url = encode_credentials(self.url)
            engine, failure = None, None
            try:
                engine = toar.database.create_engine(url)
                toar.database.ensure_schema(engine, extra_tables=[ozone_forecast])
            except Exception as exc:  # any error (URL parsing, driver, server) may quote the URL
                failure = f"{type(exc).__name__}: {mask_secrets(str(exc), url_secrets(self.url))}"
            if failure is not None:
                if engine is not None:
                    engine.dispose()
                # Raised outside the except block: the original is neither cause nor context.
                raise ToarDatabaseError(f"could not open the TOAR database {self.display_url()}: {failure}") from None
            self._engine = engine
        return self._engine

    def display_url(self) -> str:
        """The URL with every credential masked, for logs and metadata."""
        return mask_secrets(self.url, url_secrets(self.url))
