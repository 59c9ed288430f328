"""Blocking checks stop bad data in the run that produced it."""

import pytest
import sqlalchemy as sa

import toar.database
import toar.schema
from ml_assets.assets import ozone_features
from resources.quality_gates import QualityGates
from tests.conftest import project_resources
from tests.helpers import check_evaluations, materialize_days, materialized
from tests.openaq_fixtures import record, write_object
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

pytestmark = pytest.mark.slow

ASSETS = [raw_openaq_measurements, harmonized_toar_series, ozone_features]


def run(resources, first, last):
    return materialize_days(ASSETS, resources, first, last, raise_on_error=False)


@pytest.fixture(scope="module")
def bucket(two_day_mirror):
    return two_day_mirror


def test_a_bad_source_partition_stops_harmonization_in_the_same_run(tmp_path):
    # A day whose objects mostly use a unit OpenAQ never published: the source changed format.
    items = [record(unit="mg/m³", utc=f"2014-01-01T{h:02d}:00:00.000Z") for h in range(10)] + [record()]
    write_object(tmp_path / "bucket", "2014-01-01", "1388620800.ndjson.gz", items)
    with project_resources(tmp_path, tmp_path / "bucket") as resources:
        result = run(resources, "2014-01-01", "2014-01-01")
    assert not result.success
    check = check_evaluations(result, "records_valid")["2014-01-01"]
    assert not check.passed and check.blocking
    failure = check.metadata["failed_expectations"].value[0]
    assert failure["column"] == "unit" and failure["unexpected_count"] == 10 and failure["sample"][0] == "mg/m³"
    assert "harmonized_toar_series" not in materialized(result)
    engine = toar.database.create_engine(f"sqlite:///{tmp_path / 'toar.sqlite'}")
    assert not sa.inspect(engine).has_table("data")  # harmonization never ran


def test_cost_over_budget_stops_downstream(bucket, tmp_path):
    with project_resources(tmp_path, bucket, quality_gates=QualityGates(max_cost_usd_per_partition=0.0)) as resources:
        result = run(resources, "2014-01-01", "2014-01-02")
    assert not result.success
    checks = check_evaluations(result, "cost_within_budget")
    assert sorted(day for day, check in checks.items() if not check.passed) == ["2014-01-01", "2014-01-02"]
    details = checks["2014-01-01"].metadata
    assert details["cost_usd"].value > 0 and details["budget_usd"].value == 0.0
    assert materialized(result) <= {"raw_openaq_measurements"}
    assert "harmonized_toar_series" not in materialized(result) and "ozone_features" not in materialized(result)


def test_too_much_quarantine_withholds_the_partition_and_stops_features(bucket, tmp_path):
    with project_resources(tmp_path, bucket, quality_gates=QualityGates(max_quarantined_share=0.001)) as resources:
        result = run(resources, "2014-01-01", "2014-01-02")
    assert not result.success
    check = check_evaluations(result, "quarantine_share_within_limit")["2014-01-02"]
    assert not check.passed
    assert check.metadata["quarantined_share"].value > 0.001
    assert "ozone_features" not in materialized(result)
    engine = toar.database.create_engine(f"sqlite:///{tmp_path / 'toar.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(toar.schema.data)).scalar_one() == 0  # withheld


def test_passing_gates_let_the_data_through(bucket, tmp_path):
    with project_resources(tmp_path, bucket) as resources:
        result = run(resources, "2014-01-01", "2014-01-02")
    assert result.success
    assert materialized(result) == {"raw_openaq_measurements", "harmonized_toar_series", "ozone_features"}
