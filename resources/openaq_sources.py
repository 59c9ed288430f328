"""Which OpenAQ sources are live: the ones their sensors watch (``OPENAQ_SOURCES``).

``realtime`` is the v1 bucket (``openaq-fetches``, private since November 2023: live only for
whoever holds a copy of it); ``archive`` is the v3 archive (``openaq-data-archive``), the source
OpenAQ publishes today; ``latest`` is the v3 API's latest values, polled every 15 minutes
(preliminary, replaced by the archive's when its files arrive; it needs OPENAQ_API_KEY, and its
sensor skips without one). The raw assets stay in the graph either way, so history can always be
backfilled by hand; only the sensors follow this setting.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

SOURCES = {
    "realtime": "v1 real-time objects (OPENAQ_BUCKET_URL), watched by new_openaq_objects",
    "archive": "v3 archive files (OPENAQ_ARCHIVE_URL), watched by new_archive_objects",
    "latest": "v3 API latest values (OPENAQ_API_KEY, OPENAQ_API_URL), polled by latest_openaq_values",
}
DEFAULT_LIVE = ("realtime", "archive", "latest")
DEFAULT_ARCHIVE_WATCH_DAYS = 10


class SourceConfigError(ValueError):
    """OPENAQ_SOURCES names a source that does not exist."""


def parse_sources(text: str) -> list[str]:
    """The sources of a comma-separated list (``archive``, ``realtime,archive``); ``none`` or an
    empty list turns every sensor off."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if names == ["none"]:
        return []
    unknown = sorted(set(names) - SOURCES.keys())
    if unknown:
        raise SourceConfigError(f"OPENAQ_SOURCES={text!r}: unknown {unknown}; choose from {sorted(SOURCES)} or none")
    return sorted(set(names), key=list(SOURCES).index)


class OpenAQSources(ConfigurableResource):
    """The live sources and how far back the archive sensor looks."""

    live: list[str] = Field(default=list(DEFAULT_LIVE), description=f"live sources, any of {sorted(SOURCES)}")
    archive_watch_days: int = Field(
        default=DEFAULT_ARCHIVE_WATCH_DAYS,
        description="local days, ending today, whose archive files new_archive_objects lists each tick "
        "(files arrive about 3 days late and are patched for weeks)",
    )

    def is_live(self, source: str) -> bool:
        return source in self.live

    def not_live(self, source: str) -> str:
        """Why a sensor of ``source`` does nothing, for its skip reason."""
        live = ",".join(self.live) or "none"
        return f"source {source!r} is not live (OPENAQ_SOURCES={live}); add it to OPENAQ_SOURCES to watch it"
