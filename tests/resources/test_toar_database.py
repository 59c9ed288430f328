"""The TOAR database resource shows and raises no credential, whatever form the URL takes."""

import traceback
from datetime import date

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance, serialize_value

from local_services.loopback import free_port
from resources.toar_database import ToarDatabase, ToarDatabaseError, ToarDatabaseUnavailable
from sample_data.generator import generate_bucket
from tests.conftest import project_resources
from tests.helpers import materialize_days, metadata_of
from toar_assets.assets import harmonized_toar_series, raw_openaq_measurements

# Un-encoded "@": SQLAlchemy alone would take "Secr3t@127.0.0.1" for the host name.
PASSWORD = "Sup3r@Secr3t"
PIECES = ("Sup3r", "Secr3t", "Sup3r%40Secr3t")  # none may appear anywhere


def closed_port_urls() -> dict[str, str]:
    port = free_port()  # nothing listens there
    return {
        "userinfo": f"postgresql+psycopg2://toar:{PASSWORD}@127.0.0.1:{port}/toar",
        "query": f"postgresql+psycopg2://toar@127.0.0.1:{port}/toar?sslmode=disable&password={PASSWORD}",
    }


def assert_no_secret(text: str) -> None:
    for piece in PIECES:
        assert piece not in text, text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:////data/toar.sqlite", "sqlite:////data/toar.sqlite"),
        ("postgresql+psycopg2://toar@db/toar", "postgresql+psycopg2://toar@db/toar"),
        (f"postgresql+psycopg2://toar:{PASSWORD}@db:5432/toar", "postgresql+psycopg2://toar:***@db:5432/toar"),
        ("postgresql+psycopg2://toar:Sup3r%40Secr3t@db/toar", "postgresql+psycopg2://toar:***@db/toar"),
        (
            f"postgresql+psycopg2://toar@db/toar?password={PASSWORD}&sslmode=require",
            "postgresql+psycopg2://toar@db/toar?password=***&sslmode=require",
        ),
    ],
)
def test_display_url_masks_every_password_form(url, shown):
    assert ToarDatabase(url=url).display_url() == shown


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_a_connection_failure_raises_a_masked_error_with_no_chained_original(form):
    url = closed_port_urls()[form]
    with pytest.raises(ToarDatabaseUnavailable) as raised:
        ToarDatabase(url=url).engine()
    error = raised.value
    assert str(error).startswith(f"could not open the TOAR database {ToarDatabase(url=url).display_url()}: ")
    assert "Connection refused" in str(error)  # the cause is kept, masked; the host is the real one
    assert error.__cause__ is None and error.__suppress_context__
    assert_no_secret("".join(traceback.format_exception(error)) + repr(error) + str(error.orig))
    # Transient, as the driver's error it replaces: the assets retry OperationalErrors.
    assert isinstance(error, sa.exc.OperationalError) and isinstance(error, ToarDatabaseError)


def test_an_unusable_url_raises_a_masked_error_that_is_not_retried():
    with pytest.raises(ToarDatabaseError) as raised:
        ToarDatabase(url=f"postgresql+psycopg2://toar:{PASSWORD}@db:notaport/toar").engine()
    assert not isinstance(raised.value, sa.exc.OperationalError)
    assert str(raised.value) == (
        "could not open the TOAR database postgresql+psycopg2://toar:***@db:notaport/toar: "
        "ValueError: invalid literal for int() with base 10: 'notaport'"
    )


@pytest.mark.postgres
@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_a_password_with_an_unencoded_at_sign_connects(postgres_url, form):
    """The local server trusts every password: the URL must reach it whole, host and all."""
    parsed = sa.engine.make_url(postgres_url)
    server = f"{parsed.host}:{parsed.port}/{parsed.database}"
    url = (
        f"postgresql+psycopg2://{parsed.username}:{PASSWORD}@{server}"
        if form == "userinfo"
        else f"postgresql+psycopg2://{parsed.username}@{server}?password={PASSWORD}"
    )
    database = ToarDatabase(url=url)
    with database.engine().connect() as conn:
        assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == parsed.database
    database.engine().dispose()


# A Dagster materialization: the raw day, then the harmonized day writing to the database.


@pytest.fixture(scope="module")
def bucket(tmp_path_factory):
    root = tmp_path_factory.mktemp("bucket") / "openaq"
    generate_bucket(root, date(2014, 1, 1), days=1, stations=4, seed=11, objects_per_day=4)
    return root


def materialize_day(bucket, root, database_url):
    """The day's run (raising, as the command-line jobs run it): its result, what it raised, its
    events, and all of them as text (messages, errors with their stacks, metadata)."""
    instance = DagsterInstance.ephemeral()
    result = raised = None
    with project_resources(root, bucket, database_url) as resources:
        try:
            result = materialize_days(
                [raw_openaq_measurements, harmonized_toar_series], resources, "2014-01-01", instance=instance
            )
        except Exception as exc:
            raised = exc
    (run,) = instance.get_runs()
    events = instance.all_logs(run.run_id)
    log = "\n".join([serialize_value(event) for event in events] + [event.message for event in events])
    return result, raised, events, log


@pytest.mark.slow
@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_a_run_that_cannot_reach_the_database_fails_and_shows_no_password(bucket, tmp_path, capfd, form):
    url = closed_port_urls()[form]
    result, raised, events, log = materialize_day(bucket, tmp_path, url)

    assert result is None and raised is not None
    retried = [e.step_key for e in events if e.dagster_event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert retried == ["harmonized_toar_series"] * 2  # transient: the assets' retry policy tries twice more
    (failure,) = [e.dagster_event for e in events if e.dagster_event_type == DagsterEventType.STEP_FAILURE]
    assert failure.step_key == "harmonized_toar_series"
    error = failure.event_specific_data.error.to_string()  # Dagster's error, with its cause
    assert "ToarDatabaseUnavailable: could not open the TOAR database" in error and "Connection refused" in error
    assert_no_secret(log)
    assert_no_secret("".join(traceback.format_exception(raised)))
    captured = capfd.readouterr()
    assert "ToarDatabaseUnavailable" in captured.err  # Dagster's console log (compute logs hold the same)
    assert_no_secret(captured.out + captured.err)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_a_run_that_reaches_the_database_succeeds_and_shows_no_password(bucket, tmp_path, capfd, postgres_url, form):
    parsed = sa.engine.make_url(postgres_url)
    server = f"{parsed.host}:{parsed.port}/{parsed.database}"
    url = (
        f"postgresql+psycopg2://{parsed.username}:{PASSWORD}@{server}"
        if form == "userinfo"
        else f"postgresql+psycopg2://{parsed.username}@{server}?password={PASSWORD}"
    )
    result, raised, _, log = materialize_day(bucket, tmp_path, url)

    assert raised is None and result.success
    shown = metadata_of(result, "harmonized_toar_series")["database"]
    assert shown == (
        f"postgresql+psycopg2://{parsed.username}:***@{server}"
        if form == "userinfo"
        else f"postgresql+psycopg2://{parsed.username}@{server}?password=***"
    )
    assert metadata_of(result, "harmonized_toar_series")["rows_out"] > 0
    assert_no_secret(log)
    captured = capfd.readouterr()
    assert_no_secret(captured.out + captured.err)
