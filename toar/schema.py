"""The TOAR-style schema (SQLAlchemy Core): stations, their aliases and codes, series, values with flags
and version, the raw objects they came from, and the quarantine. All datetimes are naive UTC."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

stationmeta_core = sa.Table(
    "stationmeta_core",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Identity: coordinates rounded to domain.stations.COORDINATE_DECIMALS, as integers.
    sa.Column("lat_key", sa.BigInteger, nullable=False),
    sa.Column("lon_key", sa.BigInteger, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("city", sa.Text, nullable=False),
    sa.Column("country", sa.Text, nullable=False),
    sa.Column("latitude", sa.Float, nullable=False),
    sa.Column("longitude", sa.Float, nullable=False),
    sa.UniqueConstraint("lat_key", "lon_key", name="uq_stationmeta_core_coordinates"),
    comment="One row per physical station, identified by its rounded coordinates.",
)

stationmeta_alias = sa.Table(
    "stationmeta_alias",
    metadata,
    sa.Column("station_id", sa.Integer, sa.ForeignKey("stationmeta_core.id"), primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("city", sa.Text, primary_key=True),
    sa.Column("first_seen", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
    # The name or city was cleaned or cut to be stored (toar.text): not as published.
    sa.Column("altered", sa.Boolean, nullable=False, server_default=sa.false()),
    comment="Every (name, city) a station was published under, with the measurement times seen.",
)

stationmeta_code = sa.Table(
    "stationmeta_code",
    metadata,
    sa.Column("station_id", sa.Integer, sa.ForeignKey("stationmeta_core.id"), primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("code", sa.Text, primary_key=True),
    comment="Codes a station is known by in its sources: OpenAQ v3 location ids (kind openaq_location_id).",
)

timeseries = sa.Table(
    "timeseries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.Integer, sa.ForeignKey("stationmeta_core.id"), nullable=False),
    sa.Column("variable", sa.Text, nullable=False),
    sa.Column("unit", sa.Text, nullable=False),
    sa.Column("sampling_frequency", sa.Text, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("data_start_date", sa.DateTime),
    sa.Column("data_end_date", sa.DateTime),
    sa.UniqueConstraint("station_id", "variable", "provider", "sampling_frequency", name="uq_timeseries_identity"),
    comment="One series per (station, variable, provider, sampling frequency).",
)

raw_object = sa.Table(
    "raw_object",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("etag", sa.Text, nullable=False),
    sa.Column("partition_date", sa.Text, nullable=False, index=True),
    sa.Column("published_at", sa.DateTime),
    comment="The OpenAQ objects harmonized values and quarantined rows came from (provenance).",
)

data = sa.Table(
    "data",
    metadata,
    # No foreign keys on this table: the writer inserts values only joined to their series and
    # object, and a key check per value would take half of a day's write time.
    # The primary key is the only index: selections name their series and search each one's
    # time range on it (forecasting.features), and a second index costs every write.
    sa.Column("timeseries_id", sa.Integer, primary_key=True),
    sa.Column("datetime", sa.DateTime, primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("flags", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("source_object_id", sa.Integer, nullable=False),  # raw_object.id
    sa.Column("published_at", sa.DateTime),
    comment="Values; datetime is the end of the averaging period, as OpenAQ publishes it.",
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    # Keyed by where the record came from, so re-running a partition reproduces the same rows.
    # No foreign key, as on data: the writer inserts rows only with the ids of objects it just
    # upserted, and a key check per row took half of the quarantine's write time.
    sa.Column("source_object_id", sa.Integer, primary_key=True),  # raw_object.id
    sa.Column("line_number", sa.Integer, primary_key=True),
    sa.Column("partition_date", sa.Text, nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("record", sa.Text),  # at most toar.text.MAX_RECORD_CHARS characters (toar.quarantine)
    sa.Column("record_bytes", sa.BigInteger),  # the whole record's length in UTF-8 bytes
    comment="Raw records that could not be harmonized, with why and where they came from.",
)

data_flag = sa.Table(
    "data_flag",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    comment="The flag vocabulary used in data.flags.",
)


TOAR_TABLES = (
    stationmeta_core,
    stationmeta_alias,
    stationmeta_code,
    timeseries,
    raw_object,
    data,
    quarantine,
    data_flag,
)
