"""`python -m column_lineage`: the recorded column lineage, printed as the open-source UI does not draw it."""

import pytest

import column_lineage


def test_a_toar_value_traces_back_to_the_field_of_every_source(capsys):
    assert column_lineage.main(["harmonized_toar_series.value"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "harmonized_toar_series.value"
    printed = {line.strip().removeprefix("<- ") for line in lines[1:]}
    # Each raw asset's value, unit and parameter, down to the source's own field names.
    assert {"raw_openaq_measurements.value", "openaq_realtime_bucket.value"} <= printed
    assert {"raw_openaq_archive.value", "raw_openaq_archive.unit", "openaq_data_archive.units"} <= printed


def test_a_feature_reaches_the_buckets_through_the_toar_database(capsys):
    assert column_lineage.main(["ozone_features.o3_lag_1h"]) == 0
    out = capsys.readouterr().out
    assert "  <- harmonized_toar_series.value" in out
    assert "      <- openaq_data_archive.value" in out  # three levels up: feature <- TOAR <- raw <- source


def test_an_unknown_column_names_the_columns_there_are(capsys):
    with pytest.raises(SystemExit):
        column_lineage.main(["harmonized_toar_series.nope"])
    assert "its columns: station_id" in capsys.readouterr().err
