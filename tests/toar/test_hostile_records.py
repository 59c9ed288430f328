"""Bad records cost only themselves, on SQLite and PostgreSQL alike: hand-made raw tables with
hostile strings, times, coordinates and averaging periods, harmonized and written."""

import json
import threading
import time
import warnings
from contextlib import nullcontext

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

import toar.bulk_load
import toar.database
import toar.schema
import toar.writer
from domain.times import parse_utc_times
from local_services.postgres import throwaway_postgres
from tests.helpers import count, snapshot
from tests.openaq_fixtures import ABSENT, raw_table, record
from toar.harmonize import harmonize, harmonize_in_parts
from toar.text import MAX_NAME_CHARS, MAX_RECORD_CHARS

KEY = "2014-01-01/1388577600.ndjson.gz"  # published 2014-01-01 12:00 UTC


def with_columns(table: pa.Table, **columns) -> pa.Table:
    """The raw table with whole columns replaced (one value per row), as no parser would make them."""
    for name, values in columns.items():
        kind = table.schema.field(name).type if name in table.column_names else pa.int64()
        column = pa.array(values, kind)
        if name in table.column_names:
            table = table.set_column(table.schema.get_field_index(name), name, column)
        else:
            table = table.append_column(name, column)
    return table


def written(engine, partition: str, raw: pa.Table):
    result = harmonize(raw)
    assert result.conserved
    return result, toar.writer.write_partition(engine, partition, result)


def rows(engine, query) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def hours(h: int) -> str:
    return f"2014-01-01T{h:02d}:00:00Z"


# --- 1. strings: NUL and length ------------------------------------------------------------


def test_nul_in_names_is_replaced_flagged_and_counted(engine):
    raw = with_columns(
        raw_table([record(utc=hours(10)), record(utc=hours(11), coordinates={"latitude": 1.5, "longitude": 2.5})]),
        location=["Cen\x00tro", "Clean"],
        city=["Ma\x00drid", "Town"],
        country=["E\x00S", "FR"],
        source_name=["Sp\x00ain", "France"],
    )
    result, stats = written(engine, "2014-01-01", raw)
    assert result.strings_altered == 1 and stats.values_written == 2
    core, alias, series = toar.schema.stationmeta_core, toar.schema.stationmeta_alias, toar.schema.timeseries
    assert sorted(rows(engine, sa.select(core.c.name, core.c.city, core.c.country))) == [
        ("Cen\ufffdtro", "Ma\ufffddrid", "E\ufffdS"),
        ("Clean", "Town", "FR"),
    ]
    assert sorted(rows(engine, sa.select(alias.c.name, alias.c.altered))) == [("Cen\ufffdtro", True), ("Clean", False)]
    assert sorted(rows(engine, sa.select(series.c.provider))) == [("France",), ("Sp\ufffdain",)]


def test_a_name_too_long_for_an_index_is_cut_flagged_and_counted(engine):
    long_name, long_city = "N" * 3000, "Ç" * 3000  # 6,000 bytes: beyond a PostgreSQL index key
    raw = with_columns(
        raw_table([record(utc=hours(10)), record(utc=hours(11))]),
        location=[long_name, long_name],
        city=[long_city, long_city],
        source_name=["P" * 3000] * 2,
    )
    result, stats = written(engine, "2014-01-01", raw)
    assert result.strings_altered == 2 and stats.values_written == 2
    alias = toar.schema.stationmeta_alias
    assert rows(engine, sa.select(alias.c.name, alias.c.city, alias.c.altered)) == [
        ("N" * MAX_NAME_CHARS, "Ç" * MAX_NAME_CHARS, True)
    ]
    assert rows(engine, sa.select(toar.schema.timeseries.c.provider)) == [("P" * MAX_NAME_CHARS,)]


def test_nul_in_a_quarantined_line_and_its_detail_is_replaced_and_counted(engine):
    raw = with_columns(
        raw_table([record(utc=hours(10)), record(utc=hours(11)), record(utc=hours(12))]),
        parameter=["o3", "o\x003", "o3"],
        parse_error=[None, None, "invalid JSON: bad\x00byte"],
        raw_line=[None, None, '{"location": "a\x00b", "value": 1'],
    )
    result, stats = written(engine, "2014-01-01", raw)
    assert (stats.values_written, stats.quarantined, result.strings_altered) == (1, 2, 2)
    q = toar.schema.quarantine
    stored = dict(
        (line, (reason, detail, text))
        for line, reason, detail, text in rows(engine, sa.select(q.c.line_number, q.c.reason, q.c.detail, q.c.record))
    )
    assert stored[2][0] == "unsupported_parameter" and "'o\ufffd3'" in stored[2][1]
    assert json.loads(stored[2][2])["parameter"] == "o\x003"  # escaped in JSON: what came, storable as is
    assert stored[3] == ("unparseable_line", "invalid JSON: bad\ufffdbyte", '{"location": "a\ufffdb", "value": 1')


def test_a_raw_nul_byte_costs_only_its_line(engine):
    line = json.dumps(record(utc=hours(11))).replace("Centro", "Cen\x00tro")  # a raw 0x00 byte, not \u0000
    result, stats = written(engine, "2014-01-01", raw_table([record(utc=hours(10)), line]))
    assert stats.values_written + result.duplicates + stats.quarantined == 2 and stats.values_written >= 1
    texts = rows(engine, sa.select(toar.schema.quarantine.c.record, toar.schema.quarantine.c.detail))
    texts += rows(engine, sa.select(toar.schema.stationmeta_alias.c.name, toar.schema.stationmeta_alias.c.city))
    assert not any("\x00" in text for row in texts for text in row)


# --- 2. times closer than the storage resolution ---------------------------------------------


def test_times_within_one_second_are_duplicates_not_values_the_database_folds(engine):
    nanos = [
        "2014-01-01T10:00:00.0000001Z",
        "2014-01-01T10:00:00.0000002Z",
        "2014-01-01T10:00:00.0000003Z",
        "2014-01-01T10:00:00.4Z",
        "2014-01-01T10:00:00.999999999Z",
    ]
    items = [record(utc=utc, value=0.040 + i / 1000) for i, utc in enumerate(nanos)] + [
        record(utc="2014-01-01T10:00:01Z")
    ]
    result, stats = written(engine, "2014-01-01", raw_table(items))
    assert (stats.values_written, result.duplicates) == (2, 4)
    data = toar.schema.data
    stored = rows(engine, sa.select(data.c.datetime, data.c.value).order_by(data.c.datetime))
    assert [str(when) for when, _ in stored] == ["2014-01-01 10:00:00", "2014-01-01 10:00:01"]
    assert stored[0][1] == pytest.approx(44.0)  # the later line of the same object wins
    assert count(engine, "data") == stats.values_read_back == 2


# --- 3. times without an offset --------------------------------------------------------------


@pytest.mark.parametrize("order", [1, -1])
def test_a_time_without_offset_is_utc_whatever_other_records_say(order):
    strings = ["2018-06-07T05:00:00+02:00", "2018-06-07T00:00:00", "2018-06-07T01:00:00Z", "2018-06-07T09:30:00-0300"]
    parsed = dict(zip(strings[::order], parse_utc_times(pa.chunked_array([strings[::order]])), strict=True))
    assert {s: str(t)[:19] for s, t in parsed.items()} == {
        "2018-06-07T05:00:00+02:00": "2018-06-07T03:00:00",
        "2018-06-07T00:00:00": "2018-06-07T00:00:00",
        "2018-06-07T01:00:00Z": "2018-06-07T01:00:00",
        "2018-06-07T09:30:00-0300": "2018-06-07T12:30:00",
    }


def test_a_record_without_offset_is_stored_at_its_own_utc_time(engine):
    items = [record(utc="2018-06-07T05:00:00+02:00", value=0.03), record(utc="2018-06-07T00:00:00", value=0.04)]
    result, stats = written(engine, "2018-06-07", raw_table(items, key="2018-06-07/1528416000.ndjson.gz"))
    data = toar.schema.data
    stored = rows(engine, sa.select(data.c.datetime, data.c.value).order_by(data.c.datetime))
    assert [(str(when), round(value)) for when, value in stored] == [
        ("2018-06-07 00:00:00", 40),
        ("2018-06-07 03:00:00", 30),
    ]


# --- 4. implausible times --------------------------------------------------------------------


def test_times_before_the_source_existed_are_quarantined(engine):
    items = [record(utc="1970-01-01T00:00:00Z"), record(utc="2012-12-31T23:59:59Z"), record(utc="2013-01-01T00:00:00Z")]
    result, stats = written(engine, "2014-01-01", raw_table(items))
    assert list(result.quarantine["reason"]) == ["timestamp_before_source"] * 2
    assert "before 2013-01-01" in result.quarantine["detail"].iloc[0]
    assert stats.values_written == 1 and count(engine, "quarantine") == 2


# --- 5. coordinates and averaging periods ----------------------------------------------------


@pytest.mark.parametrize("where", [(1e-5, 1e-5), (-4e-5, 3e-5), (0.0, 0.0)])
def test_coordinates_that_round_to_null_island_are_invalid(where):
    result = harmonize(raw_table([record(coordinates={"latitude": where[0], "longitude": where[1]})]))
    assert result.conserved and list(result.quarantine["reason"]) == ["invalid_coordinates"]
    assert len(result.stations) == 0


def test_coordinates_near_but_not_at_null_island_are_a_station():
    result = harmonize(raw_table([record(coordinates={"latitude": 6e-5, "longitude": 0.0})]))
    assert len(result.quarantine) == 0 and result.stations[["lat_key", "lon_key"]].values.tolist() == [[1, 0]]


def test_huge_coordinates_are_invalid_not_an_integer_overflow():
    raw = raw_table([record(coordinates={"latitude": 1e300, "longitude": -1e300}), record(utc=hours(10))] * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns when a float too large for int64 is cast
        parts = list(harmonize_in_parts(raw, 2))
    assert sum(list(p.quarantine["reason"]).count("invalid_coordinates") for p in parts) == 3


def test_implausible_averaging_periods_are_quarantined(engine):
    periods = [
        {"value": 0, "unit": "hours"},
        {"value": -1, "unit": "hours"},
        {"value": 1e9, "unit": "hours"},
        {"value": 0.001, "unit": "minutes"},
    ]
    items = [record(averagingPeriod=p, utc=hours(10 + i)) for i, p in enumerate(periods)]
    items += [
        record(averagingPeriod={"value": 1, "unit": "hours"}, utc=hours(6)),
        record(averagingPeriod=ABSENT, utc=hours(7)),
        record(averagingPeriod={"value": 2, "unit": "fortnights"}, utc=hours(8)),
    ]
    result, stats = written(engine, "2014-01-01", raw_table(items))
    assert list(result.quarantine["reason"]) == ["invalid_averaging_period"] * 4
    assert "-1.0 hours" in result.quarantine["detail"].iloc[1]
    frequencies = rows(engine, sa.select(toar.schema.timeseries.c.sampling_frequency))
    assert sorted(f for (f,) in frequencies) == ["hourly", "unknown"]


def test_an_infinite_averaging_period_is_quarantined():
    raw = with_columns(raw_table([record()]), averaging_period_value=[float("inf")])
    assert list(harmonize(raw).quarantine["reason"]) == ["invalid_averaging_period"]


# --- 6. quarantined records as they came -----------------------------------------------------


def test_a_parsed_record_is_quarantined_as_openaq_json_with_nan_and_infinity_spelled_out(engine):
    raw = with_columns(
        raw_table([record(utc=hours(10)), record(utc=hours(11)), record(utc=hours(12), coordinates=ABSENT)]),
        value=[float("nan"), float("-inf"), None],
    )
    result, _ = written(engine, "2014-01-01", raw)
    q = toar.schema.quarantine
    stored = dict(
        (line, (text, size))
        for line, text, size in rows(engine, sa.select(q.c.line_number, q.c.record, q.c.record_bytes))
    )
    assert '"value":NaN' in stored[1][0] and '"value":-Infinity' in stored[2][0]
    assert stored[1][1] == len(stored[1][0].encode())
    nan_record = json.loads(stored[1][0])  # Python's json reads NaN as the feed spells it
    assert list(nan_record) == [
        "date",
        "parameter",
        "location",
        "value",
        "unit",
        "city",
        "averagingPeriod",
        "coordinates",
        "country",
        "sourceName",
        "sourceType",
        "mobile",
    ]
    assert nan_record["date"] == {"utc": hours(10)} and nan_record["averagingPeriod"] == {"value": 1, "unit": "hours"}
    assert nan_record["coordinates"] == {"latitude": 40.416775, "longitude": -3.70379} and nan_record["mobile"] is False
    absent = json.loads(stored[3][0])  # no value, no coordinates: the keys are absent, not null
    assert "value" not in absent and "coordinates" not in absent and None not in absent.values()


def test_a_long_quarantined_line_is_capped_with_its_whole_length_recorded(engine):
    line = '{"parameter": "o3", "location": "' + "é" * 20000 + '"'
    raw = with_columns(
        raw_table([record(utc=hours(10)), record(utc=hours(11))]),
        parse_error=[None, "invalid JSON: no end"],
        raw_line=[None, line],
    )
    result, stats = written(engine, "2014-01-01", raw)
    q = toar.schema.quarantine
    [(text, size)] = rows(engine, sa.select(q.c.record, q.c.record_bytes))
    assert size == len(line.encode()) and text == line[:MAX_RECORD_CHARS]
    assert result.strings_altered == 1


def test_the_raw_layers_length_of_a_line_it_cut_is_kept(engine):
    raw = with_columns(
        raw_table([record(utc=hours(10)), record(utc=hours(11))]),
        parse_error=[None, "invalid JSON: cut"],
        raw_line=[None, '{"cut": "'],
        raw_line_bytes=[None, 123456],
    )
    written(engine, "2014-01-01", raw)
    q = toar.schema.quarantine
    assert rows(engine, sa.select(q.c.record, q.c.record_bytes)) == [('{"cut": "', 123456)]


# --- 7. two runs of one partition at once ----------------------------------------------------


def busy_partition():
    """Values, and many quarantine rows (their keys are where concurrent runs would collide)."""
    items = [
        record(utc=hours(h), coordinates={"latitude": 10 + s / 100, "longitude": 20})
        for h in range(12)
        for s in range(20)
    ]
    items += [record(parameter="pm1", utc=hours(h)) for h in range(12) for _ in range(50)]
    return harmonize(raw_table(items))


def test_two_runs_of_one_partition_at_once_both_succeed_and_leave_one_run(database_url):
    # The database after one run, to compare with: a second PostgreSQL database, or SQLite file.
    postgres = database_url.startswith("postgresql")
    single = throwaway_postgres("single") if postgres else nullcontext(database_url.replace(".sqlite", "-once.sqlite"))
    with single as once_url:
        once = toar.database.create_engine(once_url)
        toar.database.ensure_schema(once)
        toar.writer.write_partition(once, "2014-01-01", busy_partition())
        expected = snapshot(once)
        once.dispose()
    engine = toar.database.create_engine(database_url)
    toar.database.ensure_schema(engine)
    start, results, errors = threading.Barrier(2), [], []

    def run():
        try:
            start.wait()
            # Each run holds its transaction open a while before committing: the other one is
            # then surely inside its own (the collision on the quarantine key needed that).
            results.append(
                toar.writer.write_partition(
                    engine, "2014-01-01", busy_partition(), confirm=lambda: time.sleep(0.5) or True
                )
            )
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 2
    assert snapshot(engine) == expected
    assert sorted(r.stations_created for r in results) == [0, 20]
    engine.dispose()


# --- 8. objects that vanished from the bucket --------------------------------------------------


def two_objects(with_second: bool):
    first = raw_table([record(utc=hours(10)), record(parameter="pm1")], key=KEY, etag="a")
    second = raw_table(
        [record(utc=hours(11), coordinates={"latitude": 5.0, "longitude": 6.0}), "{broken"],
        key="2014-01-01/1388581200.ndjson.gz",
        etag="b",
    )
    return pa.concat_tables([first, second]) if with_second else first


def test_a_vanished_object_keeps_its_values_and_its_quarantine_and_is_reported(engine):
    stats = toar.writer.write_partition(engine, "2014-01-01", harmonize(two_objects(with_second=True)))
    assert stats.objects_vanished == ()
    before = snapshot(engine)
    assert (count(engine, "data"), count(engine, "quarantine")) == (2, 2)
    stats = toar.writer.write_partition(engine, "2014-01-01", harmonize(two_objects(with_second=False)))
    assert stats.objects_vanished == ("2014-01-01/1388581200.ndjson.gz",)
    assert (stats.values_written, stats.quarantined, stats.quarantine_read_back) == (1, 1, 1)
    assert snapshot(engine) == before  # both objects' values and quarantine rows are still there
    stats = toar.writer.write_partition(engine, "2014-01-01", harmonize(two_objects(with_second=True)))
    assert stats.objects_vanished == () and snapshot(engine) == before


def test_a_changed_object_replaces_its_own_quarantine_rows(engine):
    toar.writer.write_partition(engine, "2014-01-01", harmonize(raw_table(["{broken", "{also broken"], key=KEY)))
    toar.writer.write_partition(engine, "2014-01-01", harmonize(raw_table([record(parameter="pm1")], key=KEY)))
    q = toar.schema.quarantine
    assert rows(engine, sa.select(q.c.line_number, q.c.reason)) == [(1, "unsupported_parameter")]


# --- 9. conservation read back before the commit -----------------------------------------------


def test_the_write_reads_back_what_it_relies_on(engine):
    result, stats = written(engine, "2014-01-01", two_objects(with_second=True))
    assert (
        (stats.values_read_back, stats.quarantine_read_back)
        == (2, 2)
        == (len(result.observations), len(result.quarantine))
    )


@pytest.mark.parametrize("table", ["data", "quarantine"])
def test_a_partition_whose_stored_counts_do_not_add_up_is_not_committed(engine, monkeypatch, table):
    toar.writer.write_partition(
        engine, "2014-01-02", harmonize(raw_table([record()], key="2014-01-02/1388664000.ndjson.gz"))
    )
    before = snapshot(engine)
    load = toar.writer.bulk_insert

    def losing_one_row(conn, target, frame):  # as a loader that silently dropped a row would
        load(conn, target, frame.iloc[1:] if target.name == table else frame)

    monkeypatch.setattr(toar.writer, "bulk_insert", losing_one_row)
    with pytest.raises(toar.writer.PartitionNotConserved, match="not committed") as error:
        toar.writer.write_partition(engine, "2014-01-01", harmonize(two_objects(with_second=True)))
    assert ("1 values written, 0 stored" if table == "data" else "1 quarantine rows read back") in str(error.value)
    assert snapshot(engine) == before


# --- schema of earlier versions ------------------------------------------------------------------


def test_columns_added_since_a_table_was_created_are_added(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE stationmeta_alias DROP COLUMN altered"))
        conn.execute(sa.text("ALTER TABLE quarantine DROP COLUMN record_bytes"))
    toar.database.ensure_schema(engine)
    _, stats = written(engine, "2014-01-01", two_objects(with_second=True))
    assert stats.quarantine_read_back == 2
    assert rows(engine, sa.select(toar.schema.stationmeta_alias.c.altered)) == [(False,), (False,)]


def test_bulk_insert_round_trips_booleans(engine):
    probe = sa.Table(
        "bool_probe", sa.MetaData(), sa.Column("n", sa.Integer), sa.Column("b", sa.Boolean), prefixes=["TEMPORARY"]
    )
    with engine.begin() as conn:
        probe.create(conn)
        toar.bulk_load.bulk_insert(conn, probe, pd.DataFrame({"n": [1, 2, 3], "b": pd.array([True, False, None])}))
        stored = [tuple(row) for row in conn.execute(sa.select(probe).order_by(probe.c.n))]
        toar.writer._drop_if_exists(conn, probe)
    assert stored == [(1, True), (2, False), (3, None)]
