"""The lineage graph tells its story: descriptions, groups, kinds, code versions, column lineage."""

import pytest
from dagster import AssetKey

from definitions import defs

DEFS = defs()
GRAPH = DEFS.resolve_asset_graph()
MATERIALIZABLE = [
    "raw_openaq_measurements",
    "openaq_locations",
    "raw_openaq_archive",
    "raw_openaq_latest",
    "harmonized_toar_series",
    "ozone_features",
    "ozone_forecast_model",
    "ozone_forecasts",
    "toar_daily_metrics",
    "dma8eu_forecast_model",
    "dma8eu_forecasts",
]
TABLES = [
    "raw_openaq_measurements",
    "raw_openaq_archive",
    "raw_openaq_latest",
    "harmonized_toar_series",
    "ozone_features",
    "toar_daily_metrics",
]


def spec(key: str):
    return GRAPH.get(AssetKey(key))


@pytest.mark.parametrize("key", MATERIALIZABLE)
def test_every_asset_is_described_grouped_kinded_and_versioned(key):
    node = spec(key)
    assert node.description and len(node.description) > 40
    assert node.group_name in {"openaq", "toar", "ml"}
    assert node.kinds
    assert node.code_version


@pytest.mark.parametrize(
    ("bucket", "raw"),
    [
        ("openaq_realtime_bucket", "raw_openaq_measurements"),
        ("openaq_data_archive", "raw_openaq_archive"),
        ("openaq_api_latest", "raw_openaq_latest"),
    ],
)
def test_each_source_is_an_external_asset_feeding_its_raw_asset_and_the_toar_database(bucket, raw):
    assert AssetKey(bucket) in spec(raw).parent_keys
    assert not spec(bucket).is_materializable
    assert AssetKey(raw) in spec("harmonized_toar_series").parent_keys


def test_the_archive_reads_the_followed_locations():
    assert spec("raw_openaq_archive").parent_keys == {AssetKey("openaq_data_archive"), AssetKey("openaq_locations")}


def test_the_latest_values_are_polled_for_the_followed_locations_and_appended_by_poll_day():
    assert spec("raw_openaq_latest").parent_keys == {AssetKey("openaq_api_latest"), AssetKey("openaq_locations")}
    assert "latest_logistics" in {job.name for job in DEFS.jobs}
    sensor = next(s for s in DEFS.sensors if s.name == "latest_openaq_values")
    assert sensor.job_name == "latest_logistics"


@pytest.mark.parametrize("key", TABLES)
def test_column_lineage_points_at_real_columns(key):
    metadata = spec(key).metadata
    schema = {c.name for c in metadata["dagster/column_schema"].columns}
    lineage = metadata["dagster/column_lineage"].deps_by_column
    assert set(lineage) <= schema and lineage
    for deps in lineage.values():
        for dep in deps:
            upstream = spec(dep.asset_key.to_user_string())
            assert dep.asset_key in spec(key).parent_keys
            if "dagster/column_schema" in upstream.metadata:
                assert dep.column_name in {c.name for c in upstream.metadata["dagster/column_schema"].columns}


@pytest.mark.parametrize("raw", ["raw_openaq_measurements", "raw_openaq_archive", "raw_openaq_latest"])
def test_raw_schema_matches_what_the_parsers_write(raw):
    from domain.raw_schema import RAW_SCHEMA

    schema = spec(raw).metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns] == RAW_SCHEMA.names


def test_feature_schema_matches_the_feature_function():
    from forecasting.features import FEATURE_COLUMNS, KEY_COLUMNS, TARGET

    schema = spec("ozone_features").metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns] == KEY_COLUMNS + FEATURE_COLUMNS + [TARGET]


def test_daily_metrics_schema_is_the_tables():
    from toar.schema import daily_metric

    schema = spec("toar_daily_metrics").metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns] == [c.name for c in daily_metric.columns]
    assert all(c.description for c in schema.columns)


def test_every_asset_has_an_owner():
    from domain.keys import OWNERS_BY_GROUP

    for key in GRAPH.get_all_asset_keys():
        node = GRAPH.get(key)
        assert node.owners == OWNERS_BY_GROUP[node.group_name], key


def test_every_asset_has_checks_and_blocking_gates():
    checked = {key.asset_key.to_user_string() for key in GRAPH.asset_check_keys}
    assert checked == set(MATERIALIZABLE)


SNAPSHOT = __import__("pathlib").Path(__file__).parent / "snapshots" / "asset_graph.json"


def graph_snapshot() -> dict:
    """What a lineage review cares about, in a stable order."""
    assets = {}
    for key in sorted(GRAPH.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = GRAPH.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(f"{parent.to_user_string()} via {_mapping(key, parent)}" for parent in node.parent_keys),
            "partitions": None if partitions is None else str(partitions),
            "code_version": node.code_version,
            "kinds": sorted(node.kinds),
            "materializable": node.is_materializable,
            "checks": sorted(
                f"{c.name}{' (blocking)' if GRAPH.get_check_spec(c).blocking else ''}"
                for c in GRAPH.asset_check_keys
                if c.asset_key == key
            ),
            "automation": None
            if node.automation_condition is None
            else node.automation_condition.get_label() or type(node.automation_condition).__name__,
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in DEFS.jobs),
        "sensors": sorted(s.name for s in DEFS.sensors),
    }


def _mapping(key, parent) -> str:
    mapping = GRAPH.get_partition_mapping(key, parent)
    if hasattr(mapping, "start_offset"):
        return f"{type(mapping).__name__}({mapping.start_offset}..{mapping.end_offset})"
    return type(mapping).__name__


def test_asset_graph_matches_the_reviewed_snapshot():
    """Lineage changes are deliberate: regenerate with UPDATE_SNAPSHOTS=1 and review the diff."""
    import json
    import os

    current = json.dumps(graph_snapshot(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), "no snapshot yet: run with UPDATE_SNAPSHOTS=1"
    assert current == SNAPSHOT.read_text(), "the asset graph changed: review, then UPDATE_SNAPSHOTS=1"
