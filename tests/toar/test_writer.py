import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import toar.bulk_load
import toar.database
import toar.schema
import toar.writer
from tests.helpers import count, snapshot
from tests.openaq_fixtures import ABSENT, raw_table, record
from toar.harmonize import HARMONIZATION_VERSION, harmonize


def day_one():
    return harmonize(
        raw_table(
            [
                record(value=0.040, utc="2014-01-01T10:00:00.000Z"),
                record(value=0.041, utc="2014-01-01T11:00:00.000Z", location="Renamed"),
                record(parameter="no2", unit="µg/m³", value=19.13, utc="2014-01-01T11:00:00.000Z"),
                record(location="Centro", city="Bogotá", coordinates={"latitude": 4.5981, "longitude": -74.0758}),
                record(coordinates=ABSENT),
                "{broken",
            ],
            key="2014-01-01/1388577600.ndjson.gz",
            etag="etag-1",
        )
    )


def day_two(value=0.045):
    # Re-publishes 11:00 at the first station with a new value, and adds 12:00.
    return harmonize(
        raw_table(
            [
                record(value=value, utc="2014-01-01T11:00:00.000Z"),
                record(value=0.050, utc="2014-01-01T12:00:00.000Z"),
            ],
            key="2014-01-02/1388664000.ndjson.gz",
            etag="etag-2",
        )
    )


def test_partition_lands_in_all_tables(engine):
    stats = toar.writer.write_partition(engine, "2014-01-01", day_one())
    assert (stats.stations_created, stats.series_created, stats.values_written, stats.quarantined) == (2, 3, 4, 2)
    with engine.connect() as conn:
        aliases = conn.execute(sa.select(toar.schema.stationmeta_alias.c.name)).scalars().all()
        series = conn.execute(
            sa.select(
                toar.schema.timeseries.c.variable,
                toar.schema.timeseries.c.unit,
                toar.schema.timeseries.c.data_start_date,
                toar.schema.timeseries.c.data_end_date,
            ).order_by(toar.schema.timeseries.c.id)
        ).all()
        values = conn.execute(
            sa.select(toar.schema.data.c.value, toar.schema.data.c.flags, toar.schema.data.c.version)
        ).all()
        quarantine = conn.execute(
            sa.select(
                toar.schema.quarantine.c.reason,
                toar.schema.quarantine.c.line_number,
                toar.schema.raw_object.c.key,
                toar.schema.raw_object.c.etag,
            ).join(toar.schema.raw_object, toar.schema.quarantine.c.source_object_id == toar.schema.raw_object.c.id)
        ).all()
    assert sorted(aliases) == ["Centro", "Centro", "Renamed"]
    assert {(v, u) for v, u, _, _ in series} == {("o3", "nmol/mol"), ("no2", "nmol/mol")}
    o3 = [s for s in series if s[0] == "o3" and str(s[2]).startswith("2014-01-01 10")]
    assert str(o3[0][3]).startswith("2014-01-01 11:00")  # data_end_date follows the data
    assert sorted(round(v, 6) for v, _, _ in values) == [10.0, 40.0, 40.0, 41.0]
    assert {version for _, _, version in values} == {HARMONIZATION_VERSION}
    assert sorted(quarantine) == [
        ("missing_coordinates", 5, "2014-01-01/1388577600.ndjson.gz", "etag-1"),
        ("unparseable_line", 6, "2014-01-01/1388577600.ndjson.gz", "etag-1"),
    ]


def test_temperatures_land_in_celsius_and_the_implausible_and_misunited_in_quarantine(engine):
    def temperature(value, hour, unit="c"):
        return record(parameter="temperature", unit=unit, value=value, utc=f"2014-01-01T{hour:02d}:00:00.000Z")

    harmonized = harmonize(
        raw_table(
            [
                temperature(-12.5, 6),  # a frost: an ordinary reading
                temperature(23.0, 7, unit="F"),  # (23 - 32) * 5 / 9 = -5 °C
                temperature(98.6, 8, unit="f"),  # 37 °C
                temperature(-95.0, 9),  # colder than any air measured
                temperature(20.0, 10, unit="ppb"),  # a temperature in a concentration unit
                record(parameter="o3", unit="c", value=20.0, utc="2014-01-01T11:00:00.000Z"),  # and the reverse
                record(parameter="relativehumidity", unit="%", value=80.0, utc="2014-01-01T11:00:00.000Z"),
            ],
            key="2014-01-01/1388577600.ndjson.gz",
        )
    )
    stats = toar.writer.write_partition(engine, "2014-01-01", harmonized)
    assert (stats.series_created, stats.values_written, stats.quarantined) == (1, 3, 4)
    schema = toar.schema
    with engine.connect() as conn:
        series = conn.execute(sa.select(schema.timeseries.c.variable, schema.timeseries.c.unit)).all()
        values = conn.execute(
            sa.select(schema.data.c.datetime, schema.data.c.value, schema.data.c.flags).order_by(schema.data.c.datetime)
        ).all()
        quarantine = conn.execute(
            sa.select(schema.quarantine.c.line_number, schema.quarantine.c.reason, schema.quarantine.c.detail).order_by(
                schema.quarantine.c.line_number
            )
        ).all()
    assert series == [("temp", "degree_Celsius")]
    assert [(str(when)[11:16], round(value, 9), flags) for when, value, flags in values] == [
        ("06:00", -12.5, "OKPreliminaryNotChecked"),
        ("07:00", -5.0, "OKPreliminaryNotChecked"),
        ("08:00", 37.0, "OKPreliminaryNotChecked"),
    ]
    assert [(line, reason) for line, reason, _ in quarantine] == [
        (4, "value_out_of_range"),
        (5, "incompatible_unit"),
        (6, "incompatible_unit"),
        (7, "unsupported_parameter"),
    ]
    assert "outside the physical range of temp: -90 to 60 degree_Celsius" in quarantine[0][2]
    assert "temp is stored in degree_Celsius, from c, f" in quarantine[1][2]
    assert "o3 is stored in nmol/mol" in quarantine[2][2]


def test_rewriting_a_partition_leaves_the_database_unchanged(engine):
    toar.writer.write_partition(engine, "2014-01-01", day_one())
    toar.writer.write_partition(engine, "2014-01-02", day_two())
    before = snapshot(engine)
    stats = toar.writer.write_partition(engine, "2014-01-01", day_one())
    assert (stats.stations_created, stats.series_created) == (0, 0)
    assert snapshot(engine) == before


def o3_values(engine) -> dict:
    """(station latitude, hour) -> ozone value, independent of surrogate ids."""
    query = (
        sa.select(toar.schema.stationmeta_core.c.latitude, toar.schema.data.c.datetime, toar.schema.data.c.value)
        .select_from(
            toar.schema.data.join(
                toar.schema.timeseries, toar.schema.data.c.timeseries_id == toar.schema.timeseries.c.id
            ).join(toar.schema.stationmeta_core)
        )
        .where(toar.schema.timeseries.c.variable == "o3")
    )
    with engine.connect() as conn:
        return {(lat, str(when)[11:13]): round(value, 6) for lat, when, value in conn.execute(query)}


def o3_range(engine, latitude: float) -> tuple[str, str]:
    query = (
        sa.select(toar.schema.timeseries.c.data_start_date, toar.schema.timeseries.c.data_end_date)
        .join(toar.schema.stationmeta_core)
        .where(toar.schema.timeseries.c.variable == "o3", toar.schema.stationmeta_core.c.latitude == latitude)
    )
    with engine.connect() as conn:
        start, end = conn.execute(query).one()
    return str(start)[:19], str(end)[:19]


def test_republished_value_upserts_and_order_of_partitions_does_not_matter(engine):
    final_states = []
    for order in (["2014-01-01", "2014-01-02"], ["2014-01-02", "2014-01-01"]):
        toar.schema.metadata.drop_all(engine)
        toar.database.ensure_schema(engine)
        partitions = {"2014-01-01": day_one(), "2014-01-02": day_two()}
        for day in order:
            toar.writer.write_partition(engine, day, partitions[day])
        assert count(engine, "data") == 5  # 4 from day one; 11:00 replaced, 12:00 added by day two
        final_states.append(o3_values(engine))
        # The series' date range spans both days' values, whichever day came first.
        assert o3_range(engine, 40.4168) == ("2014-01-01 10:00:00", "2014-01-01 12:00:00")
    assert final_states[0] == final_states[1]
    assert final_states[0] == {
        (40.4168, "10"): 40.0,
        (40.4168, "11"): 45.0,
        (40.4168, "12"): 50.0,
        (4.5981, "12"): 40.0,
    }


def test_values_that_collide_unseen_are_merged_not_duplicated(engine, monkeypatch):
    # As when a concurrent writer commits the same values after this one read the series'
    # ranges: the direct insert collides, rolls back to its savepoint, and the values are merged.
    toar.writer.write_partition(engine, "2014-01-01", day_one())
    toar.writer.write_partition(engine, "2014-01-02", day_two())
    expected = snapshot(engine)
    monkeypatch.setattr(toar.writer, "_may_collide", lambda stored, series, when: np.zeros(len(when), bool))
    toar.writer.write_partition(engine, "2014-01-02", day_two())
    toar.writer.write_partition(engine, "2014-01-01", day_one())  # the older publication must not win
    assert snapshot(engine) == expected
    assert o3_values(engine)[(40.4168, "11")] == 45.0


def test_only_values_within_a_series_stored_range_are_merged():
    # Series 0 holds 10:00..11:00; series 1 is new; series 2 was stored without a range.
    hour = lambda h: np.datetime64(f"2014-01-01T{h:02d}:00", "ns")  # noqa: E731
    stored = toar.writer._StoredSeries.of(
        [(0, 7, hour(10), hour(11)), (1, 8, hour(12), hour(13)), (2, 9, None, None)], 3, created={8}
    )
    series = np.array([0, 0, 0, 1, 2])
    when = np.array([hour(9), hour(11), hour(12), hour(12), hour(23)])
    assert toar.writer._may_collide(stored, series, when).tolist() == [False, True, False, False, True]
    assert stored.ids.tolist() == [7, 8, 9]


def test_series_stored_without_a_range_are_merged_not_duplicated(engine):
    # Earlier versions left data_start_date and data_end_date empty.
    toar.writer.write_partition(engine, "2014-01-01", day_one())
    expected = snapshot(engine)
    with engine.begin() as conn:
        conn.execute(toar.schema.timeseries.update().values(data_start_date=None, data_end_date=None))
    toar.writer.write_partition(engine, "2014-01-01", day_one())
    assert snapshot(engine) == expected


def test_failure_mid_partition_leaves_nothing(engine, monkeypatch):
    toar.writer.write_partition(engine, "2014-01-01", day_one())
    before = snapshot(engine)
    # The fault strikes after the values were inserted, before the quarantine.
    monkeypatch.setattr(toar.writer, "_WIDEN_SERIES_RANGES", "UPDATE no_such_table SET x = 1")
    with pytest.raises(sa.exc.DBAPIError):
        toar.writer.write_partition(engine, "2014-01-02", day_two())
    assert snapshot(engine) == before


def test_partition_not_confirmed_before_commit_is_rolled_back(engine):
    toar.writer.write_partition(engine, "2014-01-01", day_one())
    before = snapshot(engine)
    asked = []
    stats = toar.writer.write_partition(engine, "2014-01-02", day_two(), confirm=lambda: asked.append(True) or False)
    assert asked == [True] and stats is None
    assert snapshot(engine) == before
    assert toar.writer.write_partition(engine, "2014-01-02", day_two(), confirm=lambda: True).values_written > 0
    assert snapshot(engine) != before


def test_an_open_read_does_not_block_a_partition_write(engine):
    toar.writer.write_partition(engine, "2014-01-01", day_one())
    with engine.connect() as reader, reader.begin():
        assert reader.execute(sa.select(sa.func.count()).select_from(toar.schema.data)).scalar_one() > 0
        with ThreadPoolExecutor(1) as pool:  # the writer runs while the read transaction is open
            stats = pool.submit(toar.writer.write_partition, engine, "2014-01-02", day_two()).result(timeout=30)
    assert stats.values_written > 0


def test_concurrent_partitions_do_not_duplicate_stations_or_series(engine):
    # Eight partitions that all see the same 30 stations, written at the same time.
    def partition(i: int):
        items = [
            record(
                value=0.03 + i / 1000,
                utc=f"2014-01-01T{i:02d}:00:00.000Z",
                coordinates={"latitude": 40 + s / 100, "longitude": -3 - s / 100},
                location=f"S{s}",
            )
            for s in range(30)
        ]
        return harmonize(raw_table(items, key=f"2014-01-0{i + 1}/{1388577600 + 86400 * i}.ndjson.gz", etag=f"e{i}"))

    work = {f"2014-01-0{i + 1}": partition(i) for i in range(8)}
    errors = []

    def write(day):
        try:
            toar.writer.write_partition(engine, day, work[day])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(day,)) for day in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert count(engine, "stationmeta_core") == 30
    assert count(engine, "timeseries") == 30
    assert count(engine, "data") == 8 * 30


def test_schema_creation_is_repeatable(engine):
    toar.database.ensure_schema(engine)
    assert count(engine, "data_flag") == 3


@pytest.mark.postgres
def test_schema_drops_the_quarantine_key_check_of_earlier_versions(postgres_url):
    # Earlier versions checked quarantine.source_object_id against raw_object row by row.
    engine = toar.database.create_engine(postgres_url)
    toar.database.ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "ALTER TABLE quarantine ADD CONSTRAINT quarantine_source_object_id_fkey "
                "FOREIGN KEY (source_object_id) REFERENCES raw_object (id)"
            )
        )
    toar.database.ensure_schema(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text(toar.database._OLD_QUARANTINE_KEY)).first() is None
    toar.writer.write_partition(engine, "2014-01-01", day_one())
    assert count(engine, "quarantine") == 2
    engine.dispose()


def test_empty_partition_writes_nothing_and_fails_nothing(engine):
    stats = toar.writer.write_partition(engine, "2014-01-05", harmonize(raw_table([])))
    assert stats.values_written == 0 and count(engine, "data") == 0


def test_bulk_insert_never_wraps_an_integer_too_large_for_its_column(engine):
    # PostgreSQL's INTEGER holds 4 bytes: the value is refused there (SQLite stores it whole).
    probe = sa.Table("bulk_range", sa.MetaData(), sa.Column("n", sa.Integer), prefixes=["TEMPORARY"])
    with engine.begin() as conn:
        probe.create(conn)
        try:
            toar.bulk_load.bulk_insert(conn, probe, pd.DataFrame({"n": [2**31]}))
        except ValueError as exc:
            assert engine.dialect.name == "postgresql" and "out of range" in str(exc)
        else:
            assert conn.execute(sa.select(probe.c.n)).scalar_one() == 2**31
        toar.writer._drop_if_exists(conn, probe)


def test_bulk_insert_round_trips_every_column_type_and_keeps_nulls_and_empty_strings_apart(engine):
    # PostgreSQL gets these rows as binary COPY (typed by the table), SQLite as executemany.
    frame = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "small": pd.array([7, None, -(2**31)], dtype="Int64"),
            "big": [2**40, -5, 0],
            "real": [1.5, np.nan, -1e300],
            "moment": pd.to_datetime(["1999-12-31 23:59:59.123456", None, "2014-01-01 00:00:00.000000"]),
            "label": pd.Categorical(["µg/m³", None, ""]),
            "note": ['a "quoted",\nline', None, "tab\there\\ and ☃"],
        }
    )
    probe = sa.Table(
        "bulk_probe",
        sa.MetaData(),
        sa.Column("n", sa.Integer),
        sa.Column("small", sa.Integer),
        sa.Column("big", sa.BigInteger),
        sa.Column("real", sa.Float),
        sa.Column("moment", sa.DateTime),
        sa.Column("label", sa.Text),
        sa.Column("note", sa.Text),
        prefixes=["TEMPORARY"],
    )
    with engine.begin() as conn:
        probe.create(conn)
        toar.bulk_load.bulk_insert(conn, probe, frame)
        rows = [tuple(row) for row in conn.execute(sa.select(probe).order_by(probe.c.n))]
        toar.writer._drop_if_exists(conn, probe)
    assert rows == [
        (1, 7, 2**40, 1.5, datetime(1999, 12, 31, 23, 59, 59, 123456), "µg/m³", 'a "quoted",\nline'),
        (2, None, -5, None, None, None, None),
        (3, -(2**31), 0, -1e300, datetime(2014, 1, 1), "", "tab\there\\ and ☃"),
    ]
