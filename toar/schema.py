"""The TOAR-style schema (SQLAlchemy Core): stations, their aliases and codes, series, values with flags
and version, the raw objects they came from, the quarantine, and daily metrics per station. All
datetimes are naive UTC."""

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
    # time range on it (toar.series), and a second index costs every write.
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

daily_metric = sa.Table(
    "daily_metric",
    metadata,
    # docs/DAILY_METRICS.md has the rules; toar.daily_metrics computes and writes the rows.
    sa.Column(
        "station_id",
        sa.Integer,
        sa.ForeignKey("stationmeta_core.id"),
        primary_key=True,
        comment="The station (stationmeta_core.id).",
    ),
    sa.Column(
        "date",
        sa.Date,
        primary_key=True,
        comment="The station's local day in standard time (no daylight saving time), as TOAR statistics count days.",
    ),
    sa.Column(
        "timezone",
        sa.Text,
        nullable=False,
        comment="The station's IANA timezone, found from its coordinates.",
    ),
    sa.Column(
        "utc_offset_minutes",
        sa.Integer,
        nullable=False,
        comment="The timezone's standard UTC offset on that day, in minutes: the day starts at 00:00 UTC minus it.",
    ),
    sa.Column(
        "o3_dma8eu",
        sa.Float,
        comment="Daily maximum of the 8-hour running means of ozone (EU 2008/50/EC), nmol/mol; "
        "NULL unless at least 18 of the day's 24 means are valid.",
    ),
    sa.Column(
        "o3_dma8eu_windows",
        sa.Integer,
        nullable=False,
        comment="Valid 8-hour ozone means of the day (0-24); a mean is valid with at least 6 of its 8 hours.",
    ),
    sa.Column("o3_hours", sa.Integer, nullable=False, comment="Hours of the local day with an ozone value (0-24)."),
    sa.Column(
        "o3_mean",
        sa.Float,
        comment="Mean of the day's hourly ozone, nmol/mol; NULL unless at least 18 of the 24 hours have a value.",
    ),
    sa.Column(
        "o3_max",
        sa.Float,
        comment="Maximum of the day's hourly ozone, nmol/mol; NULL unless at least 18 of the 24 hours have a value.",
    ),
    sa.Column(
        "o3_last8h_mean",
        sa.Float,
        comment="The day's last 8-hour ozone mean (16:00-24:00 local standard time), nmol/mol; NULL unless valid.",
    ),
    sa.Column(
        "no2_mean",
        sa.Float,
        comment="Mean of the day's hourly NO2, nmol/mol; NULL unless at least 18 of the 24 hours have a value.",
    ),
    sa.Column(
        "no2_max",
        sa.Float,
        comment="Maximum of the day's hourly NO2, nmol/mol; NULL unless at least 18 of the 24 hours have a value.",
    ),
    sa.Column(
        "no2_hours",
        sa.Integer,
        nullable=False,
        comment="Hours of the local day with an NO2 value (0-24; 0 where the station does not measure NO2).",
    ),
    sa.Column(
        "temp_mean",
        sa.Float,
        comment="Mean of the day's hourly temperature; NULL unless at least 18 of the 24 hours have a value.",
    ),
    sa.Column(
        "temp_max",
        sa.Float,
        comment="Maximum of the day's hourly temperature; NULL unless at least 18 of the 24 hours have a value.",
    ),
    sa.Column(
        "temp_hours",
        sa.Integer,
        nullable=False,
        comment="Hours of the local day with a temperature (0-24; 0 where the station does not measure it).",
    ),
    sa.Column("computed_at", sa.DateTime, nullable=False, comment="When the row was computed (naive UTC)."),
    comment="Daily metrics per station and local standard-time day: ozone dma8eu (EU 2008/50/EC, Annex VII) "
    "with its valid 8-hour means, and the daily mean, maximum and hours of ozone, NO2 and temperature.",
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
    daily_metric,
)
