"""openaq_locations, as the code location builds it from the environment: the v3 API with a
key (the local server, through the SDK), a user's ids or file, or keyless discovery from the
archive; its metadata says what changed since the last materialization."""

from datetime import date

import pytest
from dagster import DagsterInstance, materialize

from local_services.openaq_api import TEST_API_KEY, UG_M3, OpenAQApiServer
from sample_data.generator import generate_archive
from tests.conftest import project_resources
from tests.helpers import catalog_location, check_evaluation, metadata_of
from toar_assets.archive import openaq_locations

pytestmark = pytest.mark.slow

LOCATIONS = [
    catalog_location(1, "US", "AirNow", 34.05, -118.24, [(101, "o3", "ppm")]),
    catalog_location(2, "DE", "Umweltbundesamt", 52.52, 13.4, [(201, "o3", UG_M3), (202, "no2", UG_M3)]),
    catalog_location(3, "GB", "DEFRA", 51.5, -0.12, [(301, "o3", "ppb")]),
]


def materialize_catalog(tmp_path, instance, archive=None):
    with project_resources(tmp_path, tmp_path / "mirror", archive=archive) as resources:
        result = materialize([openaq_locations], resources=resources, instance=instance, raise_on_error=False)
    return result, metadata_of(result, "openaq_locations") if result.success else None


def test_the_api_catalog_then_a_users_ids_say_what_was_added_and_dropped(tmp_path, monkeypatch):
    instance = DagsterInstance.ephemeral()
    with OpenAQApiServer(LOCATIONS) as server:
        monkeypatch.setenv("OPENAQ_API_KEY", TEST_API_KEY)
        monkeypatch.setenv("OPENAQ_API_URL", server.base_url)
        monkeypatch.setenv("OPENAQ_COUNTRIES", "us,de")
        result, first = materialize_catalog(tmp_path, instance)
    assert first["source"] == "api" and first["locations"] == 2 and first["first_materialization"]
    assert first["settings"]["countries"] == ["US", "DE"] and first["settings"]["api_key"] == "OPENAQ_API_KEY (set)"
    assert first["added_ids"] == [1, 2] and first["dropped"] == 0
    assert check_evaluation(result, "locations_followed").passed
    assert TEST_API_KEY not in "\n".join(repr(event) for event in result.all_events)

    monkeypatch.delenv("OPENAQ_API_KEY")
    monkeypatch.setenv("OPENAQ_LOCATIONS", "2,3")
    _, second = materialize_catalog(tmp_path, instance)
    assert second["source"] == "location_ids" and not second["first_materialization"]
    assert (second["added_ids"], second["dropped_ids"]) == ([3], [1])
    assert second["sensors_changed"] == 0  # bare ids do not know the sensors: no change is claimed


def test_without_key_or_list_the_archive_s_folders_are_the_catalog(tmp_path):
    summary = generate_archive(tmp_path / "archive", date(2024, 5, 1), days=1, locations=5, seed=3)
    (tmp_path / "archive" / "locations.json").unlink()  # a bucket has no catalog file
    result, metadata = materialize_catalog(tmp_path, DagsterInstance.ephemeral(), archive=tmp_path / "archive")
    folders = {key.split("locationid=")[1].split("/")[0] for key in summary.keys}
    assert metadata["source"] == "keyless" and metadata["locations"] == len(folders) == 5
    assert not metadata["all_located"]  # ids only: no coordinates until the files are read


def test_an_empty_catalog_fails_its_blocking_check_and_the_step(tmp_path):
    (tmp_path / "archive").mkdir()
    result, _ = materialize_catalog(tmp_path, DagsterInstance.ephemeral(), archive=tmp_path / "archive")
    evaluation = check_evaluation(result, "locations_followed")
    assert not evaluation.passed and evaluation.blocking and evaluation.metadata["locations"].value == 0
    assert not result.success  # nothing downstream reads an empty catalog
