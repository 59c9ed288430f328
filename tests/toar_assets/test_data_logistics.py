"""Dagster integration: the data-logistics assets on a generated bucket, on SQLite and PostgreSQL."""

import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

import toar.database
import toar.schema
from domain.quality import REASONS
from resources.environment import PROJECT_ROOT
from resources.openaq_bucket import OpenAQBucket
from tests.conftest import project_resources
from tests.helpers import count, materialize_days, metadata_by_partition, snapshot
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

pytestmark = pytest.mark.slow

ASSETS = [raw_openaq_measurements, harmonized_toar_series]


@pytest.fixture(scope="module")
def bucket(two_day_mirror):
    return two_day_mirror


def run(resources, instance, first, last=None):
    return metadata_by_partition(materialize_days(ASSETS, resources, first, last, instance=instance))


@pytest.fixture
def resources(bucket, database_url, tmp_path):
    with project_resources(tmp_path, bucket, database_url) as resources:
        yield resources


def test_two_partitions_conserve_records_and_rerun_changes_nothing(bucket, database_url, tmp_path, resources):
    instance = DagsterInstance.ephemeral()
    metadata = run(resources, instance, "2014-01-01", "2014-01-02")  # one batched run, two partitions

    engine = toar.database.create_engine(database_url)
    for day in ("2014-01-01", "2014-01-02"):
        raw, harmonized = metadata[("raw_openaq_measurements", day)], metadata[("harmonized_toar_series", day)]
        # Conservation: every line read is a value, a counted duplicate or a quarantined row.
        assert raw["records"] == harmonized["rows_in"] > 0
        assert harmonized["rows_in"] == harmonized["rows_out"] + harmonized["duplicates"] + harmonized["quarantined"]
        assert harmonized["quarantined"] == sum(harmonized[f"quarantined/{r}"] for r in REASONS)
        assert harmonized["duplicates"] > 0  # the generator re-publishes
        # Provenance: the metadata lists exactly the objects of the day, with their ETags.
        listed = OpenAQBucket(url=str(bucket)).list_day(day)
        assert {(o["key"], o["etag"]) for o in raw["source_objects"]} == {
            (o.key, o.etag) for o in listed if o.key.endswith((".ndjson", ".ndjson.gz"))
        }
        assert raw["skipped_keys"] == 1  # the generator's odd file
        # The Parquet partition holds every record read.
        assert (
            pq.read_table(tmp_path / "lake" / "raw_openaq_measurements" / f"{day}.parquet").num_rows == raw["records"]
        )
        with engine.connect() as conn:
            quarantined = conn.execute(
                sa.select(sa.func.count())
                .select_from(toar.schema.quarantine)
                .where(toar.schema.quarantine.c.partition_date == day)
            ).scalar_one()
        assert quarantined == harmonized["quarantined"]
    first = metadata[("harmonized_toar_series", "2014-01-01")]
    assert first["stations_created"] == first["stations_seen"] > 0
    # Values re-published on day two upsert: the database holds fewer than the two days wrote.
    written = sum(metadata[("harmonized_toar_series", d)]["rows_out"] for d in ("2014-01-01", "2014-01-02"))
    assert 0 < count(engine, "data") <= written

    before = snapshot(engine)
    again = run(resources, instance, "2014-01-02")
    assert again[("harmonized_toar_series", "2014-01-02")]["stations_created"] == 0
    assert again[("harmonized_toar_series", "2014-01-02")]["series_created"] == 0
    assert snapshot(engine) == before
    engine.dispose()


def test_a_day_without_objects_materializes_empty(bucket, tmp_path):
    with project_resources(tmp_path, bucket) as resources:
        metadata = run(resources, DagsterInstance.ephemeral(), "2014-03-01")
    assert metadata[("raw_openaq_measurements", "2014-03-01")]["objects"] == 0
    assert metadata[("harmonized_toar_series", "2014-03-01")]["rows_in"] == 0


def test_a_day_harmonized_and_written_in_parts_is_the_day_written_whole(database_url, resources, monkeypatch):
    monkeypatch.setattr("toar_assets.assets.ROWS_PER_PART", 400)  # a few hundred records per part
    instance = DagsterInstance.ephemeral()
    harmonized = run(resources, instance, "2014-01-01")[("harmonized_toar_series", "2014-01-01")]
    engine = toar.database.create_engine(database_url)
    assert harmonized["rows_in"] > 4 * 400  # it went in several parts
    assert count(engine, "data") == harmonized["rows_out"] and count(engine, "quarantine") == harmonized["quarantined"]
    assert harmonized["stations_created"] == harmonized["stations_seen"]
    assert harmonized["series_created"] == harmonized["series_seen"]
    in_parts = snapshot(engine)
    monkeypatch.setattr("toar_assets.assets.ROWS_PER_PART", 10**9)  # the same day whole changes nothing
    run(resources, instance, "2014-01-01")
    assert snapshot(engine) == in_parts
    engine.dispose()


WRITER_DURING_FIRST_CHECKS = """
import sqlalchemy as sa
from checks.core import _batch_definition
from resources.quality_gates import QualityGates
from resources.toar_database import ToarDatabase
import toar.writer
from tests.openaq_fixtures import raw_table, record
from toar_assets import assets

def busy_writer(engine, day, parts, confirm):
    list(parts)
    while not _batch_definition.cache_info().currsize:  # until the checks have imported GX
        sa.select(1).compile()  # as the pool's ping: a plain value goes through the inspection registry
    print("the busy writer ran")
    return confirm()

toar.writer.write_partition = busy_writer  # what write_while_harmonizing's thread runs
database = ToarDatabase(url="sqlite:///" + {path!r})
assets._harmonize_while_writing(database, "2014-01-01", raw_table([record()]), QualityGates())
"""


def test_the_writer_can_work_while_the_checks_first_import_great_expectations(tmp_path):
    """The harmonized step's writer thread runs SQLAlchemy while the main thread's checks import
    great_expectations (which imports sqlalchemy.orm) for the first time in the step's process."""
    script = WRITER_DURING_FIRST_CHECKS.format(path=str(tmp_path / "toar.sqlite"))
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "the busy writer ran" in done.stdout  # the patched writer is the one the step ran


def test_what_the_bucket_skips_vanished_objects_and_altered_names_are_in_the_metadata(tmp_path, database_url):
    from tests.openaq_fixtures import record, write_object

    bucket = tmp_path / "bucket"
    write_object(bucket, "2014-01-01", "1388577600.ndjson.gz", [record(location="x" * 3000)])
    write_object(bucket, "2014-01-01", "1388578200.ndjson.gz", [record(utc="2014-01-01T11:00:00.000Z")])
    (bucket / "2014-01-01" / "1388578800.ndjson").symlink_to("/etc/hostname")  # outside the bucket
    with project_resources(tmp_path, bucket, database_url) as resources:
        instance = DagsterInstance.ephemeral()
        first = run(resources, instance, "2014-01-01")
        (bucket / "2014-01-01" / "1388578200.ndjson.gz").unlink()
        again = run(resources, instance, "2014-01-01")
    raw = first[("raw_openaq_measurements", "2014-01-01")]
    assert raw["skipped_keys"] == 1 and raw["skipped"][0]["key"] == "2014-01-01/1388578800.ndjson"
    harmonized = first[("harmonized_toar_series", "2014-01-01")]
    assert harmonized["strings_altered"] == 1 and harmonized["objects_vanished"] == 0
    assert harmonized["values_read_back"] == 2 and harmonized["quarantine_read_back"] == 0
    after = again[("harmonized_toar_series", "2014-01-01")]
    assert after["objects_vanished"] == 1 and after["vanished_objects"] == ["2014-01-01/1388578200.ndjson.gz"]
    engine = toar.database.create_engine(database_url)
    assert count(engine, "data") == 2  # the vanished object's value is kept (README: vanished objects)
    engine.dispose()
