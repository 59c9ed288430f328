"""The lineage graph tells its story: descriptions, groups, kinds, code versions, column lineage."""

import pytest
from dagster import AssetKey

from definitions import defs

GRAPH = defs.resolve_asset_graph()
MATERIALIZABLE = ["raw_openaq_measurements", "harmonized_toar_series", "ozone_features",
                  "ozone_forecast_model", "ozone_forecasts"]
TABLES = ["raw_openaq_measurements", "harmonized_toar_series", "ozone_features"]


def spec(key: str):
    return GRAPH.get(AssetKey(key))


@pytest.mark.parametrize("key", MATERIALIZABLE)
def test_every_asset_is_described_grouped_kinded_and_versioned(key):
    node = spec(key)
    assert node.description and len(node.description) > 40
    assert node.group_name in {"openaq", "toar", "ml"}
    assert node.kinds
    assert node.code_version


def test_the_bucket_is_an_external_source_of_the_raw_asset():
    assert AssetKey("openaq_realtime_bucket") in spec("raw_openaq_measurements").parent_keys
    assert not spec("openaq_realtime_bucket").is_materializable


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


def test_raw_schema_matches_what_the_parser_writes():
    from toar_assets.openaq_objects import RAW_SCHEMA

    schema = spec("raw_openaq_measurements").metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns] == RAW_SCHEMA.names


def test_feature_schema_matches_the_feature_function():
    from ml_assets.features import FEATURE_COLUMNS, KEY_COLUMNS, TARGET

    schema = spec("ozone_features").metadata["dagster/column_schema"]
    assert [c.name for c in schema.columns] == KEY_COLUMNS + FEATURE_COLUMNS + [TARGET]


def test_every_asset_has_checks_and_blocking_gates():
    checked = {key.asset_key.to_user_string() for key in GRAPH.asset_check_keys}
    assert checked == set(MATERIALIZABLE)
