"""The partition writer: one partition of harmonized rows into the TOAR database.

One partition is written in one transaction, set-based. Stations, aliases and series are
bulk loaded into temporary staging tables (PostgreSQL ``COPY``; batched executemany on SQLite)
and moved into the real tables with ``INSERT ... SELECT ... ON CONFLICT``. Values go straight
into ``data`` where no stored value can collide with them (outside the stored date range of
their series), and through a staging table and a merge otherwise (the hours a fetch day shares
with the day before, a re-run, a later object re-publishing a value). Unique keys
make the writes idempotent and keep concurrent partitions from creating the same station or
series twice. All datetimes are naive UTC.

Rules:

- One partition at a time: on PostgreSQL the transaction first takes an advisory lock on its
  partition (``pg_advisory_xact_lock``), so a second run of the same partition waits for the
  first to commit and then rewrites it; SQLite serializes writers with ``BEGIN IMMEDIATE``.
  Different partitions still write at once.
- A partition's quarantine is replaced object by object: the rows of each object this run read
  are deleted and written again. Objects of the partition that this run did not read (removed
  from the bucket, or now empty) have *vanished*: their values and their quarantine rows are
  both kept, as a record of what was published, and their keys are reported
  (``WriteStats.objects_vanished``).
- Conservation is checked against what the database holds, inside the transaction, before it
  commits: the quarantine rows of the run's objects are counted back and must equal the
  partition's quarantine, and so ``rows_in == values + duplicates + quarantine rows read
  back``; the values stored in each of the partition's series within its time range in the
  partition are counted back and must be at least the partition's values of that series
  (exactly as many for a series the partition created). Otherwise ``PartitionNotConserved``
  names the counts and nothing is committed.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from toar.bulk_load import bulk_insert
from toar.database import WRITE_LOCK_OPTION
from toar.harmonize import HARMONIZATION_VERSION, Harmonized
from toar.schema import data, quarantine, raw_object

# Staging tables live in the writing transaction only.
_staging = sa.MetaData()


def _stage(name: str, *columns: sa.Column) -> sa.Table:
    return sa.Table(name, _staging, *columns, prefixes=["TEMPORARY"], postgresql_on_commit="drop")


stage_station = _stage(
    "stage_station",
    sa.Column("lat_key", sa.BigInteger),
    sa.Column("lon_key", sa.BigInteger),
    sa.Column("name", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("country", sa.Text),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
)
stage_alias = _stage(
    "stage_alias",
    sa.Column("lat_key", sa.BigInteger),
    sa.Column("lon_key", sa.BigInteger),
    sa.Column("name", sa.Text),
    sa.Column("city", sa.Text),
    sa.Column("first_seen", sa.DateTime),
    sa.Column("last_seen", sa.DateTime),
    sa.Column("altered", sa.Boolean),
)
stage_code = _stage(
    "stage_code",
    sa.Column("lat_key", sa.BigInteger),
    sa.Column("lon_key", sa.BigInteger),
    sa.Column("kind", sa.Text),
    sa.Column("code", sa.Text),
)
stage_series = _stage(
    "stage_series",
    sa.Column("lat_key", sa.BigInteger),
    sa.Column("lon_key", sa.BigInteger),
    sa.Column("variable", sa.Text),
    sa.Column("provider", sa.Text),
    sa.Column("sampling_frequency", sa.Text),
    sa.Column("unit", sa.Text),
    sa.Column("first_time", sa.DateTime),
    sa.Column("last_time", sa.DateTime),
    sa.Column("position", sa.Integer),
)
# Values are staged, with their surrogate ids resolved, only when they must be merged (see _write_values).
stage_data = _stage(
    "stage_data",
    sa.Column("timeseries_id", sa.Integer),
    sa.Column("datetime", sa.DateTime),
    sa.Column("value", sa.Float),
    sa.Column("flags", sa.Text),
    sa.Column("source_object_id", sa.Integer),
    sa.Column("published_at", sa.DateTime),
)
# The part's series by id, once their ids are known: later statements need no join by natural key.
stage_series_id = _stage(
    "stage_series_id",
    sa.Column("timeseries_id", sa.Integer),
    sa.Column("first_time", sa.DateTime),
    sa.Column("last_time", sa.DateTime),
    sa.Column("position", sa.Integer),
)
_STAGES = (stage_station, stage_alias, stage_code, stage_series, stage_data, stage_series_id)

# Joins from staged natural keys to surrogate ids, shared by the statements below.
_JOIN_STATION = "JOIN stationmeta_core st ON st.lat_key = s.lat_key AND st.lon_key = s.lon_key"
_JOIN_SERIES = (
    _JOIN_STATION + " JOIN timeseries ts ON ts.station_id = st.id AND ts.variable = s.variable"
    " AND ts.provider = s.provider AND ts.sampling_frequency = s.sampling_frequency"
)


def _pick(stored: str, incoming: str, pick: str) -> str:
    """SQL for the earlier (``min``) or later (``max``) of a stored and an incoming time, the
    incoming one if none is stored (portable LEAST/GREATEST)."""
    op = "<" if pick == "min" else ">"
    return f"CASE WHEN {stored} IS NULL OR {incoming} {op} {stored} THEN {incoming} ELSE {stored} END"


# The ORDER BY clauses make concurrent writers take row locks in one order (no deadlocks).
# "WHERE true" lets SQLite parse ON CONFLICT after INSERT ... SELECT.
# First the keys: stations, their aliases, codes and series, from the staged natural keys.
_KEY_STATEMENTS = [
    (
        "stations_created",
        "INSERT INTO stationmeta_core (lat_key, lon_key, name, city, country, latitude, longitude) "
        "SELECT lat_key, lon_key, name, city, country, latitude, longitude FROM stage_station s "
        "WHERE true ORDER BY lat_key, lon_key ON CONFLICT (lat_key, lon_key) DO NOTHING RETURNING id",
    ),
    (
        None,
        "INSERT INTO stationmeta_alias (station_id, name, city, first_seen, last_seen, altered) "
        f"SELECT st.id, s.name, s.city, s.first_seen, s.last_seen, s.altered FROM stage_alias s {_JOIN_STATION} "
        "WHERE true ORDER BY st.id, s.name, s.city ON CONFLICT (station_id, name, city) DO UPDATE SET "
        f"first_seen = {_pick('stationmeta_alias.first_seen', 'excluded.first_seen', 'min')}, "
        f"last_seen = {_pick('stationmeta_alias.last_seen', 'excluded.last_seen', 'max')}, "
        "altered = stationmeta_alias.altered OR excluded.altered",
    ),
    (
        None,
        "INSERT INTO stationmeta_code (station_id, kind, code) "
        f"SELECT st.id, s.kind, s.code FROM stage_code s {_JOIN_STATION} "
        "WHERE true ORDER BY st.id, s.kind, s.code ON CONFLICT (station_id, kind, code) DO NOTHING",
    ),
    (
        "series_created",
        "INSERT INTO timeseries (station_id, variable, unit, sampling_frequency, provider, data_start_date, data_end_date) "
        "SELECT st.id, s.variable, s.unit, s.sampling_frequency, s.provider, s.first_time, s.last_time "
        f"FROM stage_series s {_JOIN_STATION} "
        "WHERE true ORDER BY st.id, s.variable, s.provider, s.sampling_frequency "
        "ON CONFLICT (station_id, variable, provider, sampling_frequency) DO NOTHING RETURNING id",
    ),
]
# The ids of the partition's series, with the date range of each one's stored values (staged
# series carry their row in the part's series table, so they come back by position), and of its
# objects.
_SERIES_IDS = sa.text(
    f"SELECT s.position, ts.id, ts.data_start_date, ts.data_end_date FROM stage_series s {_JOIN_SERIES}"
).columns(position=sa.Integer, id=sa.Integer, data_start_date=sa.DateTime, data_end_date=sa.DateTime)
_OBJECT_IDS = "SELECT key, id FROM raw_object WHERE partition_date = :partition"
# Concurrent runs of one partition queue here (the two-key form: ensure_schema locks one key).
_PARTITION_LOCK = "SELECT pg_advisory_xact_lock(7201405, hashtext(:partition))"
# Read back: the values stored in each staged series within its time range in the part.
_VALUES_READ_BACK = sa.text(
    "SELECT p.position, (SELECT count(*) FROM data d WHERE d.timeseries_id = p.timeseries_id "
    "AND d.datetime >= p.first_time AND d.datetime <= p.last_time) FROM stage_series_id p"
)
_QUARANTINE_READ_BACK = (
    "SELECT source_object_id, count(*) FROM quarantine WHERE partition_date = :partition GROUP BY source_object_id"
)
# Staged values merge into data: a value re-published by a later object replaces the earlier
# one, never the reverse.
_MERGE_VALUES = (
    "INSERT INTO data (timeseries_id, datetime, value, flags, version, source_object_id, published_at) "
    "SELECT timeseries_id, datetime, value, flags, :version, source_object_id, published_at FROM stage_data "
    "WHERE true ORDER BY timeseries_id, datetime ON CONFLICT (timeseries_id, datetime) DO UPDATE SET "
    "value = excluded.value, flags = excluded.flags, version = excluded.version, "
    "source_object_id = excluded.source_object_id, published_at = excluded.published_at "
    "WHERE excluded.published_at >= data.published_at OR data.published_at IS NULL"
)
# Values are only ever added or replaced at the same time, so a series' range widens by the
# partition's own range; series created by this partition have it already and are not rewritten.
# The range therefore always spans the series' stored values (which _may_collide relies on).
_WIDEN_SERIES_RANGES = (
    "UPDATE timeseries SET "
    f"data_start_date = {_pick('data_start_date', 'p.first_time', 'min')}, "
    f"data_end_date = {_pick('data_end_date', 'p.last_time', 'max')} "
    "FROM stage_series_id p "
    "WHERE timeseries.id = p.timeseries_id AND (data_start_date IS NULL OR data_end_date IS NULL "
    "OR p.first_time < data_start_date OR p.last_time > data_end_date)"
)


class PartitionNotConserved(RuntimeError):
    """What the database holds after writing a partition does not add up; nothing was committed."""


@dataclass(frozen=True)
class WriteStats:
    """What one partition's transaction changed, and what it read back before committing."""

    stations_created: int
    series_created: int
    values_written: int
    quarantined: int
    # Values stored in the partition's series within each one's time range in the partition:
    # at least values_written (more where other partitions hold values in those hours).
    values_read_back: int = 0
    # Quarantine rows of the objects this run read, counted in the database: equals quarantined.
    quarantine_read_back: int = 0
    # Keys of the partition's objects this run did not read; their values and quarantine rows are kept.
    objects_vanished: tuple[str, ...] = ()


# The figures of WriteStats that are sums over a partition's parts.
_SUMMED = ("stations_created", "series_created", "values_written", "quarantined", "values_read_back")


def write_partition(
    engine: Engine,
    partition: str,
    harmonized: Harmonized | Iterable[Harmonized],
    confirm: Callable[[], bool] | None = None,
) -> WriteStats | None:
    """Write one partition's harmonized rows and quarantine in one transaction.

    ``harmonized`` is the partition, or its parts as they are harmonized (``harmonize.
    harmonize_in_parts``): each part is written when it arrives, so the database loads one
    while the next is assembled. ``confirm``, if given, is asked just before the commit (say,
    whether checks running meanwhile passed): False rolls the whole partition back and
    returns None.
    """
    parts = [harmonized] if isinstance(harmonized, Harmonized) else harmonized
    totals = dict.fromkeys((*_SUMMED, "rows_in", "duplicates"), 0)  # summed over the parts
    with engine.connect().execution_options(**{WRITE_LOCK_OPTION: True}) as conn, conn.begin() as transaction:
        params = {"partition": partition, "version": HARMONIZATION_VERSION}
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(_PARTITION_LOCK), params)  # before anything of the partition is read
            # A day's values sort in memory, not in temporary files (the default is 4 MB).
            conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))
        for table in _STAGES:  # created once, emptied for each part
            _drop_if_exists(conn, table)
            table.create(conn)
        upserted: set[str] = set()  # object keys this transaction wrote
        object_ids = None
        for part in parts:
            # An object has rows in several parts: it is upserted once (and its stored quarantine
            # rows deleted), and the ids are read again only after new objects were written.
            new = part.objects[~part.objects["source_key"].isin(upserted)]
            if len(new) or object_ids is None:
                _upsert_objects(conn, partition, new)
                upserted.update(new["source_key"])
                object_ids = _id_lookup(conn.execute(sa.text(_OBJECT_IDS), params).all())
                if len(new):
                    replaced = _ids_of(new["source_key"], object_ids, "object").tolist()
                    conn.execute(quarantine.delete().where(quarantine.c.source_object_id.in_(replaced)))
            for name, count in _write_part(conn, partition, part, params, object_ids).items():
                totals[name] += count
        if object_ids is None:
            object_ids = _id_lookup(conn.execute(sa.text(_OBJECT_IDS), params).all())
        vanished = tuple(sorted(set(object_ids.index) - upserted))
        quarantine_read_back = _read_back_quarantine(conn, params, object_ids, upserted)
        _check_conservation(partition, totals, quarantine_read_back)
        for table in _STAGES:
            _drop_if_exists(conn, table)
        if confirm is not None and not confirm():
            transaction.rollback()
            return None
    return WriteStats(
        **{name: totals[name] for name in _SUMMED},
        quarantine_read_back=quarantine_read_back,
        objects_vanished=vanished,
    )


def _read_back_quarantine(conn: Connection, params: dict, object_ids: pd.Series, upserted: set[str]) -> int:
    """The quarantine rows the database holds for the objects this run read."""
    counts: dict[int, int] = {object_id: n for object_id, n in conn.execute(sa.text(_QUARANTINE_READ_BACK), params)}
    return sum(counts.get(int(object_ids[key]), 0) for key in upserted)


def _check_conservation(partition: str, totals: dict, quarantine_read_back: int) -> None:
    """Every raw record is once a value, a duplicate or a quarantine row read back."""
    accounted = totals["values_written"] + totals["duplicates"] + quarantine_read_back
    if quarantine_read_back != totals["quarantined"] or accounted != totals["rows_in"]:
        raise PartitionNotConserved(
            f"partition {partition} not committed: {totals['rows_in']} rows in, but {totals['values_written']} "
            f"values + {totals['duplicates']} duplicates + {quarantine_read_back} quarantine rows read back "
            f"(of {totals['quarantined']} quarantined) = {accounted}"
        )


def write_while_harmonizing(
    engine: Engine,
    partition: str,
    parts: Iterable[Harmonized],
    accept: Callable[[Harmonized], bool],
    before_commit: Callable[[], None] | None = None,
) -> tuple[Harmonized, WriteStats | None]:
    """Write a partition whose parts are still being harmonized: a writer thread loads each part
    as it arrives (and connects, and creates the schema if needed, while the first is made),
    while this thread makes the next. Once all are made, ``accept`` judges the whole partition
    (say, blocking checks) while the writer finishes; it commits only if ``accept`` said yes.
    ``before_commit``, if given, is called after that, just before the commit: raising rolls the
    partition back and the error goes through (say, the step's run is no longer alive).
    Returns the harmonized partition and the write's figures (None if it was withheld)."""
    # ``accept`` may import great_expectations, and with it sqlalchemy.orm, in this thread. While
    # that import runs, SQLAlchemy's inspection registry already holds half-initialized orm code,
    # and the writer's first statement would hit it (a sporadic AttributeError). Import it first.
    import sqlalchemy.orm  # noqa: F401

    handed_over: queue.Queue = queue.Queue()
    verdict: Future = Future()

    def confirm() -> bool:  # in the writer's thread, once it has written everything
        if verdict.result() and before_commit is not None:
            before_commit()
        return verdict.result()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="toar-writer") as pool:
        writing = pool.submit(write_partition, engine, partition, iter(handed_over.get, None), confirm)
        try:
            done = []
            for part in parts:
                done.append(part)
                handed_over.put(part)
            handed_over.put(None)
            harmonized = Harmonized.combine(done)
            verdict.set_result(accept(harmonized))
        finally:
            if not verdict.done():  # harmonizing or judging raised: roll back, then let the error through
                handed_over.put(None)
                verdict.set_result(False)
        return harmonized, writing.result()


def _write_part(conn: Connection, partition: str, h: Harmonized, params: dict, object_ids: pd.Series) -> dict[str, int]:
    """Stations, aliases, series, values and quarantine of (part of) a partition, whose
    objects are written and have the ids ``object_ids`` (by key)."""
    counts = {
        "values_written": len(h.observations),
        "quarantined": len(h.quarantine),
        "rows_in": h.rows_in,
        "duplicates": h.duplicates,
    }
    series = h.series.assign(position=np.arange(len(h.series)))
    _stage_frames(
        conn, [(stage_station, h.stations), (stage_alias, h.aliases), (stage_code, h.codes), (stage_series, series)]
    )
    created: set[int] = set()
    for counted, statement in _KEY_STATEMENTS:
        result = conn.execute(sa.text(statement), params)
        if counted:
            ids = result.scalars().all()
            counts[counted] = len(ids)
            if counted == "series_created":
                created = set(ids)
    # Natural keys become ids here, once per series and object, rather than in a join per value:
    # each value's series id by its row in h.series, its object's id by key.
    stored = _StoredSeries.of(conn.execute(_SERIES_IDS).all(), len(h.series), created)
    _stage_frames(conn, [(stage_series_id, series.assign(timeseries_id=stored.ids))])
    series_index = h.observations["series_index"].to_numpy()
    values = h.observations.assign(
        timeseries_id=stored.ids[series_index],
        source_object_id=_ids_of(h.observations["source_key"], object_ids, "object"),
        # One string for every value: a categorical, so it becomes COPY bytes without a Python object per row.
        version=pd.Categorical.from_codes(np.zeros(len(series_index), np.int8), [HARMONIZATION_VERSION]),
    )
    _write_values(conn, values, _may_collide(stored, series_index, h.observations["datetime"].to_numpy()), params)
    conn.execute(sa.text(_WIDEN_SERIES_RANGES))
    counts["values_read_back"] = _read_back_values(conn, partition, stored, series_index, created)
    rejected = h.quarantine.assign(
        source_object_id=_ids_of(h.quarantine["source_key"], object_ids, "object"), partition_date=partition
    )
    bulk_insert(conn, quarantine, rejected[[c.name for c in quarantine.columns]])
    return counts


def _read_back_values(
    conn: Connection, partition: str, stored: _StoredSeries, series_index: np.ndarray, created: set[int]
) -> int:
    """The values stored in the part's series within each one's time range in the part; at least
    the part's values of each series, and exactly those in a series the part created (no other
    transaction can write to it before this one commits)."""
    rows = conn.execute(_VALUES_READ_BACK).all()
    stored_count = np.zeros(len(stored.ids), np.int64)
    if rows:
        positions, counts = (np.asarray(column, np.int64) for column in zip(*rows, strict=True))
        stored_count[positions] = counts
    written = np.bincount(series_index, minlength=len(stored.ids))
    new = np.isin(stored.ids, list(created))
    short = (stored_count < written) | (new & (stored_count != written))
    if short.any():
        at = int(np.flatnonzero(short)[0])
        raise PartitionNotConserved(
            f"partition {partition} not committed: {int(short.sum())} series hold other counts of values than "
            f"written, such as series {int(stored.ids[at])}: {int(written[at])} values written, "
            f"{int(stored_count[at])} stored in their time range"
        )
    return int(stored_count.sum())


@dataclass(frozen=True)
class _StoredSeries:
    """A part's series by their row in its series table: id, and the date range of the values
    stored before this partition (NaT for a series this partition created; ``unknown`` for one
    stored without a range by an earlier version)."""

    ids: np.ndarray
    first: np.ndarray
    last: np.ndarray
    unknown: np.ndarray

    @classmethod
    def of(cls, rows: Sequence, count: int, created: set[int]) -> _StoredSeries:
        if len(rows) != count:  # one row per staged series (its keys are unique)
            raise RuntimeError(f"{count - len(rows)} of {count} series have no id")
        columns = (list(column) for column in zip(*rows, strict=True)) if rows else ([], [], [], [])
        positions, stored_ids, stored_first, stored_last = columns
        order = np.argsort(positions)
        ids = np.asarray(stored_ids, np.int64)[order]
        first = pd.to_datetime(stored_first).to_numpy("datetime64[ns]")[order]
        last = pd.to_datetime(stored_last).to_numpy("datetime64[ns]")[order]
        new = np.isin(ids, list(created))
        first[new], last[new] = np.datetime64("NaT"), np.datetime64("NaT")
        return cls(ids, first, last, ~new & (np.isnat(first) | np.isnat(last)))


def _may_collide(stored: _StoredSeries, series_index: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Which values may meet a stored value of their series: those within its stored range.
    Consecutive fetch days overlap by the hours published after midnight, so only those hours
    need a merge; the rest of a day cannot collide."""
    with np.errstate(invalid="ignore"):  # NaT compares False: a new series has nothing stored
        inside = (when >= stored.first[series_index]) & (when <= stored.last[series_index])
    return stored.unknown[series_index] | inside


def _write_values(conn: Connection, values: pd.DataFrame, may_collide: np.ndarray, params: dict) -> None:
    """Insert the values that cannot meet a stored value straight into ``data`` (no staging,
    no merge), and stage and merge the others. Should a concurrent writer have committed some
    of the first meanwhile, they are merged too."""
    if values.empty:
        return
    # Sorted by the primary key: index pages fill in order, and concurrent writers wait for
    # each other's rows in one order (no deadlocks).
    order = np.lexsort((values["datetime"].to_numpy(), values["timeseries_id"].to_numpy()))
    values, may_collide = values[[c.name for c in data.columns]].iloc[order], may_collide[order]
    merged = values[may_collide]
    if not may_collide.all():
        try:
            with conn.begin_nested():
                bulk_insert(conn, data, values[~may_collide])
        except (sa.exc.IntegrityError, conn.dialect.loaded_dbapi.IntegrityError):
            merged = values  # rolled back to the savepoint: another writer committed some of these first
    if len(merged):
        _stage_frames(conn, [(stage_data, merged)])
        conn.execute(sa.text(_MERGE_VALUES), params)


def _stage_frames(conn: Connection, staged: list[tuple[sa.Table, pd.DataFrame]]) -> None:
    for table, frame in staged:
        conn.execute(table.delete())
        bulk_insert(conn, table, frame[[c.name for c in table.columns]])


def _id_lookup(rows: Sequence) -> pd.Series:
    """(key, id) rows as ids indexed by key."""
    return pd.Series([row[1] for row in rows], index=[row[0] for row in rows], dtype=np.int64)


def _ids_of(keys: pd.Series, ids: pd.Series, what: str) -> np.ndarray:
    """The id of every key; every key must have one."""
    positions = ids.index.get_indexer(keys)
    missing = positions < 0
    if missing.any():
        raise RuntimeError(f"{int(missing.sum())} rows have no {what} id, such as {keys[missing].iloc[0]!r}")
    return ids.to_numpy()[positions]


def _upsert_objects(conn: Connection, partition: str, objects: pd.DataFrame) -> None:
    if objects.empty:
        return
    rows = [
        {
            "key": r.source_key,
            "etag": r.source_etag,
            "partition_date": partition,
            "published_at": None if pd.isna(r.published_at) else r.published_at.to_pydatetime(),
        }
        for r in objects.sort_values("source_key").itertuples()
    ]
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(raw_object)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "etag": statement.excluded.etag,
                "partition_date": statement.excluded.partition_date,
                "published_at": statement.excluded.published_at,
            },
        ),
        rows,
    )


def _drop_if_exists(conn: Connection, table: sa.Table) -> None:
    # PostgreSQL drops staging tables at commit; SQLite keeps temp tables per connection.
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))
