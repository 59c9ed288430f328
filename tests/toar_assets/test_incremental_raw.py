"""Re-materializing a day fetches only objects that are new or changed."""

from datetime import date

import pytest
from dagster import DagsterInstance, materialize

from domain.fingerprint import table_fingerprint
from sample_data.generator import generate_bucket
from sources.objects import ObjectInfo
from sources.openaq_v1.reader import read_objects
from tests.conftest import project_resources
from tests.helpers import with_stored_upstreams
from tests.openaq_fixtures import record, write_object
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

pytestmark = pytest.mark.slow


def listing(root, day):
    from resources.openaq_bucket import OpenAQBucket

    return OpenAQBucket(url=str(root)).list_day(day)


def test_reuse_gives_the_same_table_as_a_full_read(tmp_path):
    generate_bucket(tmp_path / "b", date(2014, 1, 3), days=1, stations=8, seed=3, objects_per_day=20)
    objects = listing(tmp_path / "b", "2014-01-03")
    read = lambda key: (tmp_path / "b" / key).read_bytes()  # noqa: E731
    full, report = read_objects(objects, read)
    fetched = []
    again, again_report = read_objects(objects, lambda key: fetched.append(key) or read(key), previous=full)
    assert fetched == [] and again_report.objects_reused == len(again_report.objects) == len(report.objects)
    assert table_fingerprint(again) == table_fingerprint(full)  # same rows in the same order (NaN-aware)
    assert (again_report.records, again_report.unparseable_lines, again_report.broken_objects) == (
        report.records,
        report.unparseable_lines,
        report.broken_objects,
    )
    # One object changed (new ETag): only it is fetched again.
    changed = [o if i else ObjectInfo(o.key, o.size, "new-etag") for i, o in enumerate(objects)]
    partial, partial_report = read_objects(changed, lambda key: fetched.append(key) or read(key), previous=full)
    assert fetched == [objects[0].key] and partial_report.objects_reused == len(objects) - 1 - len(report.skipped)
    assert partial.num_rows == full.num_rows


def test_asset_reads_only_new_objects_when_a_day_is_materialized_again(tmp_path):
    day = "2014-01-01"
    write_object(tmp_path / "bucket", day, "1388577600.ndjson.gz", [record(), record(value=0.05)])  # 12:00
    with project_resources(tmp_path, tmp_path / "bucket") as resources:
        instance = DagsterInstance.ephemeral()

        def raw_metadata():
            result = materialize(
                with_stored_upstreams([raw_openaq_measurements, harmonized_toar_series]),
                resources=resources,
                instance=instance,
                partition_key=day,
            )
            assert result.success
            events = [e.materialization for e in result.get_asset_materialization_events()]
            return {k: v.value for k, v in events[0].metadata.items()}

        first = raw_metadata()
        assert (first["objects_read"], first["objects_reused"], first["records"]) == (1, 0, 2)
        write_object(tmp_path / "bucket", day, "1388578200_x.ndjson", [record(value=0.06)], gz=False)
        second = raw_metadata()
        assert (second["objects_read"], second["objects_reused"], second["records"]) == (1, 1, 3)
        assert second["bytes_read"] == (tmp_path / "bucket" / day / "1388578200_x.ndjson").stat().st_size
        third = raw_metadata()
        assert (third["objects_read"], third["bytes_read"], third["records"]) == (0, 0, 3)
