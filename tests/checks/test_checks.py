import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dagster import AssetCheckSeverity

import checks.features
import checks.harmonized
import checks.model
import checks.raw
from checks.core import Outcome, check_evaluations, cost_outcome, run_suite
from forecasting.features import FEATURE_COLUMNS, TARGET
from forecasting.training import Scores
from tests.openaq_fixtures import ABSENT, raw_table, record
from toar.harmonize import harmonize


def failed(outcome: Outcome) -> dict[str, dict]:
    return {
        f["expectation"] + ":" + str(f.get("column", f.get("column_A", ""))): f
        for f in outcome.details["failed_expectations"]
    }


def good_records(n=200):
    return [record(value=0.03 + i / 10000, utc=f"2014-01-01T{i % 12:02d}:{i // 12 % 60:02d}:00.000Z") for i in range(n)]


# raw ------------------------------------------------------------------------------------------


def test_raw_records_pass_on_good_data():
    outcome = checks.raw.validate(raw_table(good_records()), min_score=1.0)
    assert outcome.passed and outcome.details["data_quality_score"] == 1.0


def test_raw_records_fail_on_a_bad_partition_and_say_what_and_where():
    # 34 records: each rule broken by more than the 5 % the check tolerates
    items = (
        good_records(20)
        + [record(unit="mg/m³")] * 5
        + [record(utc="2014-01-02T12:00:00.000Z")] * 3
        + ["{cut"] * 4
        + [record(utc="01/01/2014 10:00")] * 2
    )
    outcome = checks.raw.validate(raw_table(items), min_score=1.0)
    assert not outcome.passed and outcome.severe
    failures = failed(outcome)
    unit = failures["expect_column_values_to_be_null:unit"]
    assert unit["unexpected_count"] == 5 and unit["sample"][0] == "mg/m³"
    future = failures["expect_column_values_to_be_between:seconds_after_publication"]
    assert future["unexpected_count"] == 3 and future["sample"][0] == pytest.approx(86400.0)
    assert failures["expect_column_values_to_be_null:parse_error"]["unexpected_count"] == 4
    odd_time = failures["expect_column_values_to_be_null:date_utc_not_iso8601"]
    assert odd_time["unexpected_count"] == 2 and odd_time["sample"][0] == "01/01/2014 10:00"
    assert outcome.details["data_quality_score"] < 1.0
    assert unit["objects"] == {"2014-01-01/1388577600.ndjson.gz": 5} and unit["bad_share"] == pytest.approx(5 / 34)
    assert "the unit is not one OpenAQ publishes: 5 records (14.7% > 5%) in 1 object(s)" in outcome.details["summary"]


def test_raw_failure_above_the_floor_only_warns():
    items = good_records(50) + [record(unit="mg/m³")] * 5
    outcome = checks.raw.validate(raw_table(items), min_score=0.5)
    assert not outcome.passed and not outcome.severe


def test_raw_tolerates_single_bad_records():
    outcome = checks.raw.validate(raw_table(good_records(300) + [record(unit="mg/m³"), "{cut"]), min_score=1.0)
    assert outcome.passed  # below the share the check tolerates: harmonization quarantines them


def test_raw_check_blocks_only_above_its_threshold_and_speaks_harmonizations_spellings():
    # One object of 100 records with an odd publish time (1.3 % of a day) does not block the day ...
    late = [record(utc="2014-01-02T12:00:00.000Z")] * 100
    assert checks.raw.validate(raw_table(good_records(7444) + late), min_score=1.0).passed
    # ... nor do spellings harmonization accepts, nor parameters OpenAQ publishes beyond TOAR's.
    spelled = [record(unit="ug/m3", parameter="O3"), record(parameter="Pm25", unit="µg/m3"), record(parameter="pm1")]
    assert checks.raw.validate(raw_table(good_records(20) + spelled * 10), min_score=1.0).passed
    # The threshold is the quality gate's.
    outcome = checks.raw.validate(raw_table(good_records(7444) + late), min_score=1.0, max_bad_share=0.01)
    assert not outcome.passed and outcome.severe


def test_an_expectation_that_cannot_run_fails_and_says_why():
    outcome = run_suite(
        "probe", pd.DataFrame({"value": [1.0]}), [("ExpectColumnValuesToNotBeNull", {"column": "valu"})]
    )
    assert outcome.score == 0.0
    assert 'The column "valu" in BatchData does not exist' in outcome.failures[0]["error"]


# harmonized -----------------------------------------------------------------------------------


def test_harmonized_values_pass_on_good_data():
    outcome = checks.harmonized.validate(harmonize(raw_table(good_records())), min_score=1.0)
    assert outcome.passed, outcome.details


def test_harmonized_values_fail_on_crafted_bad_values():
    h = harmonize(raw_table(good_records(20)))
    h.observations.loc[0, "value"] = 5000.0  # ozone above its range
    h.observations.loc[3, "value"] = -50.0  # and below it
    h.observations["flags"] = h.observations["flags"].astype(object)  # a categorical of the known flags
    h.observations.loc[1, "flags"] = "Invented"
    h.observations = pd.concat([h.observations, h.observations.iloc[[2]]], ignore_index=True)  # same series and hour
    h.stations.loc[0, "latitude"] = 123.0
    h.series.loc[0, "unit"] = "µg/m³"  # ozone is a gas: nmol/mol in TOAR
    outcome = checks.harmonized.validate(h, min_score=1.0)
    failures = failed(outcome)
    assert failures["expect_column_pair_values_a_to_be_greater_than_b:value_ceiling"]["sample"] == [[1000.0, 5000.0]]
    assert failures["expect_column_pair_values_a_to_be_greater_than_b:value"]["sample"] == [[-50.0, -10.0]]
    assert failures["expect_column_values_to_be_in_set:flags"]["sample"] == ["Invented"]
    assert failures["expect_compound_columns_to_be_unique:"]["unexpected_count"] == 2
    assert failures["expect_column_values_to_be_between:latitude"]["sample"] == [123.0]
    assert failures["expect_column_pair_values_to_be_equal:unit"]["sample"] == [["µg/m³", "nmol/mol"]]
    assert "conservation:" in failures  # the extra row breaks the counts too
    assert not outcome.passed and outcome.severe


def test_harmonized_temperatures_pass_below_zero_and_fail_outside_their_range_or_in_another_unit():
    items = [
        record(parameter="temperature", unit=unit, value=value, utc=f"2014-01-01T{hour:02d}:00:00.000Z")
        for hour, (value, unit) in enumerate([(-30.0, "c"), (-0.5, "c"), (14.0, "f"), (55.0, "c")])
    ]
    h = harmonize(raw_table(good_records(20) + items))
    assert set(h.series["variable"]) == {"o3", "temp"} and len(h.quarantine) == 0
    assert checks.harmonized.validate(h, min_score=1.0).passed  # frosts and a hot afternoon are valid
    temp = h.observations.index[h.observations["variable"] == "temp"]
    h.observations.loc[temp[0], "value"] = -95.0  # below any air measured
    h.observations.loc[temp[1], "value"] = 61.0
    h.series.loc[h.series["variable"] == "temp", "unit"] = "nmol/mol"  # a temperature is no mixing ratio
    failures = failed(checks.harmonized.validate(h, min_score=1.0))
    assert failures["expect_column_pair_values_a_to_be_greater_than_b:value"]["sample"] == [[-95.0, -90.0]]
    assert failures["expect_column_pair_values_a_to_be_greater_than_b:value_ceiling"]["sample"] == [[60.0, 61.0]]
    assert failures["expect_column_pair_values_to_be_equal:unit"]["sample"] == [["nmol/mol", "degree_Celsius"]]


def test_raw_check_knows_temperature_units_in_any_case():
    spelled = [record(parameter="temperature", unit=unit, value=1.0) for unit in ("c", "C", "°C", "f", "F", "°f")]
    outcome = checks.raw.validate(raw_table(good_records(20) + spelled * 10), min_score=1.0)
    assert outcome.passed, outcome.details
    # A unit no one publishes is still caught.
    outcome = checks.raw.validate(raw_table(good_records(20) + [record(unit="kelvinish")] * 10), min_score=1.0)
    assert failed(outcome)["expect_column_values_to_be_null:unit"]["unexpected_count"] == 10


def test_quarantine_share_rule():
    h = harmonize(raw_table(good_records(10) + [record(parameter="pm1")] * 10))
    outcome = checks.harmonized.quarantine_share(h, max_share=0.4)
    assert not outcome.passed and outcome.details["quarantined_share"] == 0.5
    assert outcome.details["quarantined_by_reason"] == {"unsupported_parameter": 10}
    assert checks.harmonized.quarantine_share(h, max_share=0.5).passed


# features -------------------------------------------------------------------------------------


def feature_rows(stations=2, hours=24) -> pd.DataFrame:
    rows = []
    for s in range(stations):
        for h in range(hours):
            rows.append(
                {
                    "station_id": s,
                    "issue_time": pd.Timestamp("2014-01-05") + pd.Timedelta(hours=h),
                    **{c: 1.0 for c in FEATURE_COLUMNS},
                    TARGET: 1.0,
                }
            )
    return pd.DataFrame(rows)


def test_features_pass_and_fail_on_nulls_and_row_floor():
    assert checks.features.validate(feature_rows(), min_rows=24, min_score=1.0).passed
    bad = feature_rows()
    bad.loc[[3, 4], "o3_lag_5h"] = np.nan
    outcome = checks.features.validate(bad, min_rows=24, min_score=1.0)
    assert failed(outcome)["expect_column_values_to_not_be_null:o3_lag_5h"]["unexpected_count"] == 2
    few = checks.features.validate(feature_rows(hours=5), min_rows=24, min_score=1.0)
    assert failed(few)["expect_table_row_count_to_be_between:"]["observed_value"] == 10
    empty = checks.features.validate(feature_rows().iloc[0:0], min_rows=24, min_score=1.0)
    assert not empty.passed and empty.severe


def test_hourly_continuity_warns():
    assert checks.features.hourly_continuity(feature_rows(), 0.5).passed
    sparse = checks.features.hourly_continuity(feature_rows(hours=6), 0.5)
    assert not sparse.passed and not sparse.severe and sparse.details["hourly_continuity"] == 0.25


# model ----------------------------------------------------------------------------------------


class _Signature:
    class inputs:
        @staticmethod
        def input_names():
            return FEATURE_COLUMNS


def test_model_rules():
    better, worse = Scores(1.0, 0.8, 0.9, 10), Scores(2.0, 1.5, 0.4, 10)
    assert checks.model.beats_persistence(better, worse).passed
    not_better = checks.model.beats_persistence(worse, better)
    assert not not_better.passed and not not_better.severe
    assert checks.model.predictions_valid(np.array([1.0, 2.0]), _Signature).passed
    assert not checks.model.predictions_valid(np.array([1.0, np.nan]), _Signature).passed
    no_signature = checks.model.predictions_valid(np.array([1.0]), None)
    assert not no_signature.passed and no_signature.details["signature_inputs"] == 0
    assert checks.model.quality_floor(better, 0.5).passed
    assert not checks.model.quality_floor(worse, 0.5).passed


# results --------------------------------------------------------------------------------------


def test_each_partition_gets_its_own_evaluation_with_its_details_and_severity():
    spec = checks.raw.SPECS[0]
    passed, severe, mild = check_evaluations(
        spec,
        {
            "2014-01-03": Outcome(False, {"data_quality_score": 0.9, "summary": "a few odd units"}, severe=False),
            "2014-01-01": Outcome(True, {"data_quality_score": 1.0}),
            "2014-01-02": Outcome(False, {"data_quality_score": 0.5, "summary": "the unit changed"}),
        },
    )
    assert [e.partition for e in (passed, severe, mild)] == ["2014-01-01", "2014-01-02", "2014-01-03"]
    assert all(e.asset_key == spec.asset_key and e.check_name == spec.name and e.blocking for e in (passed, severe))
    assert passed.passed and passed.description is None
    assert passed.metadata["data_quality_score"].value == 1.0
    assert not severe.passed and severe.severity == AssetCheckSeverity.ERROR
    assert severe.description == "the unit changed" and severe.metadata["data_quality_score"].value == 0.5
    assert not mild.passed and mild.severity == AssetCheckSeverity.WARN and mild.description == "a few odd units"
    # Each holds its own partition's details, not the others'.
    assert set(passed.metadata) == {"data_quality_score"}
    assert set(mild.metadata) == {"data_quality_score", "summary"}


def test_cost_rule():
    assert cost_outcome(0.01, 0.05).passed
    over = cost_outcome(0.06, 0.05)
    assert not over.passed and over.details == {"cost_usd": 0.06, "budget_usd": 0.05}


def test_raw_validation_frame_measures_publication_lag():
    table = raw_table([record(utc="2014-01-01T11:00:00.000Z")])
    frame = checks.raw.validation_frame(table)
    assert frame["seconds_after_publication"].tolist() == [-3600.0]
    assert isinstance(table, pa.Table)


def test_raw_validation_frame_names_each_records_missing_fields_and_only_those():
    table = raw_table(
        [record(), record(value=ABSENT), record(value=ABSENT, unit=ABSENT, location=ABSENT), "{cut", record()]
    )
    missing = checks.raw.validation_frame(table)["missing_fields"]
    assert missing.astype(object).where(missing.notna(), None).tolist() == [
        None,
        "value",
        "value,unit,location",
        None,  # no record: counted under parse_error only
        None,
    ]


def test_great_expectations_loads_without_the_libraries_only_unused_expectations_need_which_work_when_used():
    """In a fresh interpreter: the suite runs with scipy.stats and altair deferred (their code not
    yet run), and a later user of them (scipy's entropy) gets them whole; the garbage collector,
    paused during the import, runs again."""
    code = """
import gc, sys, pandas as pd
from checks.core import DEFERRED_IMPORTS, run_suite
outcome = run_suite("s", pd.DataFrame({"a": [1.0, None]}), [("ExpectColumnValuesToNotBeNull", {"column": "a"})])
assert outcome.failures[0]["unexpected_count"] == 1, outcome
assert gc.isenabled()
print(" ".join(type(sys.modules[name]).__name__ for name in DEFERRED_IMPORTS))
from scipy.stats import entropy
print(round(entropy([0.5, 0.5]), 6), type(sys.modules["scipy.stats"]).__name__)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:2] == ["_LazyModule _LazyModule", "0.693147 module"]
