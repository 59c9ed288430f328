"""The Dagster UI, verified in a real browser (Debian's Chromium, headless, loopback only).

Starts ``dagster dev`` on an instance the main job filled, then: the asset graph shows all five
assets and their lineage edges; an asset's partitions view opens; one partition is launched
from the UI and its run succeeds. Screenshots land in ``test-artifacts/ui/``.
"""

import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from local_services.loopback import free_port, wait_until_serving
from resources.environment import PROJECT_ROOT
from sample_data.generator import generate_bucket
from tests.helpers import project_locations

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "ui"
ASSETS = [
    "raw_openaq_measurements",
    "harmonized_toar_series",
    "ozone_features",
    "ozone_forecast_model",
    "ozone_forecasts",
]
LAUNCHED_DAY = "2014-01-06"  # in the mirror, not materialized by the main job


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A demo instance, filled by the main job, served by ``dagster dev`` on a loopback port."""
    root = tmp_path_factory.mktemp("ui")
    env = {**os.environ, **project_locations(root)}
    (root / "dagster_home").mkdir()
    (root / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    generate_bucket(root / "mirror", date(2014, 1, 1), days=6, stations=20, seed=7, objects_per_day=24)
    filled = subprocess.run(
        [sys.executable, "-m", "main_job", "--source", "realtime", "--start", "2014-01-01", "--end", "2014-01-05"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert filled.returncode == 0, filled.stdout[-2000:] + filled.stderr[-2000:]
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/server_info", server, timeout=120)
        yield {"base": base, "dagster_home": env["DAGSTER_HOME"]}
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1800,1100",
    ):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait_for(condition, timeout=60, interval=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def page_text(browser) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.TAG_NAME, "body").text


def open_page(browser, url):
    from selenium.webdriver.common.by import By

    browser.get(url)
    time.sleep(2)
    for button in browser.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):  # first-visit newsletter modal
        button.click()


def test_asset_graph_shows_every_asset_and_its_lineage(ui, browser):
    from selenium.webdriver.common.by import By

    # The forecasts' whole upstream lineage: every asset of the graph, laid out to fit the page.
    open_page(browser, f"{ui['base']}/assets/ozone_forecasts?view=lineage&lineageScope=upstream&lineageDepth=6")
    try:
        wait_for(
            lambda: all(name in page_text(browser) for name in ASSETS + ["openaq_realtime_bucket"]),
            what="all five assets and the bucket",
        )
        edges = browser.find_elements(By.CSS_SELECTOR, "svg path[marker-end^='url(#arrow']")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "asset_graph.png"))
    # bucket -> raw -> harmonized -> features -> model -> forecasts, and features -> forecasts
    # (the layout may add group-to-group edges on top)
    assert len(edges) >= 6, f"{len(edges)} lineage edges drawn"


def test_partitions_view_and_a_materialization_launched_from_the_ui(ui, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(browser, f"{ui['base']}/assets/raw_openaq_measurements?view=partitions")
    wait_for(lambda: "Partitions Selected" in page_text(browser), what="the partitions view")
    assert "Materialized (5)" in page_text(browser)  # the five days the main job wrote
    browser.save_screenshot(str(ARTIFACTS / "partitions_view.png"))

    materialize = wait_for(
        lambda: [b for b in browser.find_elements(By.TAG_NAME, "button") if b.text.strip().startswith("Materialize")],
        what="the Materialize button",
    )
    materialize[0].click()
    wait_for(lambda: "Launch runs to materialize" in page_text(browser), what="the launch dialog")
    for link in browser.find_elements(By.XPATH, "//*[normalize-space()='Show all partitions']"):
        link.click()
    time.sleep(1)
    field = wait_for(
        lambda: [
            i
            for i in browser.find_elements(By.CSS_SELECTOR, "[role=dialog] input")
            if i.get_attribute("type") != "checkbox"
        ],
        what="the partition field",
    )[0]
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(LAUNCHED_DAY, Keys.ENTER)
    launch = wait_for(
        lambda: [
            b
            for b in browser.find_elements(By.CSS_SELECTOR, "[role=dialog] button")
            if b.text.strip() == "Launch 1 run"
        ],
        what="'Launch 1 run'",
    )
    browser.save_screenshot(str(ARTIFACTS / "launch_dialog.png"))
    launch[0].click()
    # The launch is a request from the page: let it finish before navigating away.
    wait_for(lambda: "Launch runs to materialize" not in page_text(browser), what="the dialog to close")
    wait_for(
        lambda: "Materializing (1)" in page_text(browser) or "Materialized (6)" in page_text(browser),
        what="the partition to be materializing",
    )

    def succeeded():
        open_page(browser, f"{ui['base']}/runs")
        lines = page_text(browser).split("\n")
        rows = [i for i, line in enumerate(lines) if line == f"partition: {LAUNCHED_DAY}"]
        return rows and "Success" in lines[rows[0] : rows[0] + 8]

    try:
        wait_for(succeeded, timeout=240, interval=5, what=f"the run for {LAUNCHED_DAY} to succeed")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "runs.png"))

    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.from_config(ui["dagster_home"]) as instance:
        assert LAUNCHED_DAY in instance.get_materialized_partitions(AssetKey("raw_openaq_measurements"))
