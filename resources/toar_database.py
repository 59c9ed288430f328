"""The TOAR database: PostgreSQL in production, a SQLite file by default."""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import Engine, make_url

import toar.database
from forecasting.tables import ozone_forecast


class ToarDatabase(ConfigurableResource):
    """Hands out one engine per process, with the schema created on first use."""

    url: str = Field(description="SQLAlchemy URL, e.g. postgresql+psycopg2://user@host/db or sqlite:///file")

    _engine: Any = PrivateAttr(default=None)

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = toar.database.create_engine(self.url)
            toar.database.ensure_schema(self._engine, extra_tables=[ozone_forecast])
        return self._engine

    def display_url(self) -> str:
        """The URL with any password masked, for logs and metadata."""
        return make_url(self.url).render_as_string(hide_password=True)
