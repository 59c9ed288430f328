"""toar.series: the series readers shared by the forecast features and the daily metrics."""

import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import toar.series
import toar.writer
from tests.openaq_fixtures import raw_table, record
from toar.harmonize import harmonize
from toar.series import hourly_means, select_measurements

DAY = datetime(2014, 1, 5)
VALUES_QUERY = re.compile(r"\bFROM data\s")


@pytest.fixture
def three_variables(engine):
    """Ozone at 40 and NO2 at 10 nmol/mol and temperature at 5.0 degC for the hours ending
    01:00..06:00 of DAY at one station, through harmonization and the writer."""
    hours = [DAY + timedelta(hours=h) for h in range(1, 7)]
    items = [record(value=0.040, utc=t.strftime("%Y-%m-%dT%H:00:00.000Z")) for t in hours]
    items += [
        record(parameter="no2", unit="µg/m³", value=19.13, utc=t.strftime("%Y-%m-%dT%H:00:00.000Z")) for t in hours
    ]
    items += [
        record(parameter="temperature", unit="c", value=5.0, utc=t.strftime("%Y-%m-%dT%H:00:00.000Z")) for t in hours
    ]
    toar.writer.write_partition(engine, "2014-01-05", harmonize(raw_table(items, key="2014-01-05/1.ndjson.gz")))
    return engine


def test_variables_choose_the_series_read(three_variables):
    with three_variables.connect() as conn:
        default = select_measurements(conn, DAY, DAY + timedelta(days=1))
        all_three = select_measurements(conn, DAY, DAY + timedelta(days=1), variables=("o3", "no2", "temp"))
        only_temp = select_measurements(conn, DAY, DAY + timedelta(days=1), variables=("temp",))
    assert default["variable"].value_counts().to_dict() == {"o3": 6, "no2": 6}
    assert all_three["variable"].value_counts().to_dict() == {"o3": 6, "no2": 6, "temp": 6}
    assert set(only_temp["variable"]) == {"temp"} and set(only_temp["value"]) == {5.0}


def test_values_are_read_in_chunks_of_series(three_variables, monkeypatch):
    statements: list[str] = []
    sa.event.listen(three_variables, "before_cursor_execute", lambda *args: statements.append(args[2]))
    variables = ("o3", "no2", "temp")
    with three_variables.connect() as conn:
        whole = select_measurements(conn, DAY, DAY + timedelta(days=1), variables=variables)
        values_queries = sum(bool(VALUES_QUERY.search(s)) for s in statements)
        monkeypatch.setattr(toar.series, "SERIES_PER_QUERY", 1)
        statements.clear()
        chunked = select_measurements(conn, DAY, DAY + timedelta(days=1), variables=variables)
    assert values_queries == 1
    assert sum(bool(VALUES_QUERY.search(s)) for s in statements) == 3  # one per series
    key = ["timeseries_id", "datetime"]
    pd.testing.assert_frame_equal(
        chunked.sort_values(key, ignore_index=True), whole.sort_values(key, ignore_index=True)
    )


def test_hourly_means_has_one_column_per_variable_in_order():
    frame = pd.DataFrame(
        {
            "timeseries_id": [1, 1, 2, 3],
            "station_id": [7, 7, 7, 7],
            "variable": ["o3", "o3", "temp", "co"],
            "datetime": pd.to_datetime(
                ["2014-01-05 00:30", "2014-01-05 01:00", "2014-01-05 01:00", "2014-01-05 01:00"]
            ),
            "value": [30.0, 50.0, 4.0, 1.0],
        }
    )
    hourly = hourly_means(frame, variables=("temp", "no2", "o3"))
    assert list(hourly.columns) == ["temp", "no2", "o3"]  # co was not asked for; no2 has no values
    row = hourly.loc[(7, pd.Timestamp("2014-01-05 01:00"))]
    assert (row["temp"], row["o3"]) == (4.0, 40.0) and np.isnan(row["no2"])
    assert list(hourly_means(frame.iloc[:0], variables=("temp", "o3")).columns) == ["temp", "o3"]
    assert list(hourly_means(frame).columns) == ["o3", "no2"]  # the default, as the features read
