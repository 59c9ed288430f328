"""The hostile corpus (tests/hostile_inputs.py) through the whole pipeline, on SQLite and PostgreSQL:
every case costs only itself, every good record is stored, and conservation holds in the database."""

import pytest
import sqlalchemy as sa

import toar.database
from tests.conftest import project_resources
from tests.helpers import materialize_days, metadata_by_partition
from tests.hostile_inputs import CASES, DAY, write_mirror
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

pytestmark = pytest.mark.slow


def stored_per_object(engine, table: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT o.key, count(*) FROM {table} t JOIN raw_object o ON o.id = t.source_object_id GROUP BY o.key"
            )
        ).all()
    return dict(rows)


def test_every_hostile_case_costs_only_itself(database_url, tmp_path):
    mirror = write_mirror(tmp_path / "mirror")
    with project_resources(tmp_path, mirror, database_url) as resources:
        result = materialize_days([raw_openaq_measurements, harmonized_toar_series], resources, DAY)
    metadata = metadata_by_partition(result)
    raw, harmonized = metadata[("raw_openaq_measurements", DAY)], metadata[("harmonized_toar_series", DAY)]
    engine = toar.database.create_engine(database_url)
    values, quarantined = stored_per_object(engine, "data"), stored_per_object(engine, "quarantine")
    engine.dispose()

    skipped = {entry["key"] for entry in raw["skipped"]}
    broken = {entry["key"] for entry in raw["broken"]}
    for case in CASES:
        expected = case.expected
        if expected.skipped:
            assert case.key in skipped, case.name
            assert case.key not in values and case.key not in quarantined, case.name
            continue
        assert (case.key in broken) == (expected.broken is not None), case.name
        good = expected.good_lines - len(expected.quarantined)
        assert values.get(case.key, 0) == good, (case.name, case.about)
        assert quarantined.get(case.key, 0) == len(expected.bad_lines) + len(expected.quarantined), case.name

    assert harmonized["written"] and harmonized["rows_in"] == raw["records"]
    assert harmonized["rows_in"] == harmonized["rows_out"] + harmonized["duplicates"] + harmonized["quarantined"]
    assert sum(values.values()) == harmonized["rows_out"] == harmonized["values_read_back"]
    assert sum(quarantined.values()) == harmonized["quarantined"] == harmonized["quarantine_read_back"]
