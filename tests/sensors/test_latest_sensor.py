"""The latest values' sensor with the code location's own resources (built from the
environment): a run of today's partition per 15-minute slot, and a skip that says why otherwise."""

from datetime import UTC, datetime

import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context, materialize

from local_services.openaq_api import TEST_API_KEY
from sensors.latest_values import latest_openaq_values, poll_slot
from tests.conftest import project_resources
from toar_assets.archive import openaq_locations


def evaluate(tmp_path, store_catalog=True):
    """One evaluation with the resources build_resources makes of the environment."""
    with project_resources(tmp_path, tmp_path / "mirror") as resources:
        if store_catalog:
            assert materialize([openaq_locations], resources=resources).success
        context = build_sensor_context(
            resources={name: resources[name] for name in ("openaq_sources", "openaq_latest", "lake_io_manager")},
            instance=DagsterInstance.ephemeral(),
        )
        return latest_openaq_values(context)


@pytest.fixture(autouse=True)
def followed(monkeypatch):
    monkeypatch.setenv("OPENAQ_LOCATIONS", "1001,1002")  # ids: the catalog is stored without the API
    monkeypatch.delenv("OPENAQ_SOURCES", raising=False)
    monkeypatch.delenv("OPENAQ_API_KEY", raising=False)


def test_without_a_key_the_sensor_skips_and_says_so(tmp_path):
    result = evaluate(tmp_path)
    assert isinstance(result, SkipReason)
    assert result.skip_message.startswith("no OPENAQ_API_KEY: ")  # latest is live by default, the key is not set


def test_with_a_key_and_a_catalog_each_tick_asks_a_run_of_today_for_its_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAQ_API_KEY", TEST_API_KEY)
    before = datetime.now(UTC)
    result = evaluate(tmp_path)
    after = datetime.now(UTC)

    assert isinstance(result, RunRequest)
    slots = {poll_slot(before), poll_slot(after)}  # a slot may have ended meanwhile
    assert result.run_key in {f"latest:{slot:%Y-%m-%dT%H:%MZ}" for slot in slots}
    assert result.partition_key in {slot.date().isoformat() for slot in slots}
    assert result.tags["openaq/source"] == "latest"  # the instance limits runs per source
    assert TEST_API_KEY not in repr(result)


def test_while_latest_is_not_live_the_sensor_skips_before_asking_for_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAQ_SOURCES", "archive")
    result = evaluate(tmp_path)
    assert isinstance(result, SkipReason)
    assert "'latest' is not live (OPENAQ_SOURCES=archive)" in result.skip_message


def test_without_a_stored_catalog_the_sensor_says_to_materialize_the_locations(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAQ_API_KEY", TEST_API_KEY)
    result = evaluate(tmp_path, store_catalog=False)
    assert isinstance(result, SkipReason)
    assert "materialize openaq_locations (the locations job)" in result.skip_message


@pytest.mark.parametrize(
    ("now", "slot"),
    [
        ("2024-05-01T12:00:00", "2024-05-01T12:00:00"),
        ("2024-05-01T12:14:59.999", "2024-05-01T12:00:00"),
        ("2024-05-01T12:15:00", "2024-05-01T12:15:00"),
        ("2024-05-01T23:59:30", "2024-05-01T23:45:00"),
    ],
)
def test_the_slot_is_the_quarter_hour_a_tick_falls_in(now, slot):
    assert poll_slot(datetime.fromisoformat(now)) == datetime.fromisoformat(slot)
