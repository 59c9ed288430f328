"""The Dagster UI, verified in a real browser (Debian's Chromium, headless, loopback only).

Fills an instance as the demos do (the main job over the v1 mirror's 2014 days and over recent
days of a small archive mirror), starts the live feed and ``dagster dev`` beside it as ``make ui``
does, then reads what a user reads: the asset graph with every asset and its lineage edges; an
asset's partitions view, and a partition launched from the UI whose run succeeds; the QoA plot
of the harmonized series with points over the demo's days; a check's latest result, Passed for
a demo day it names, and its history; a sensor tick that requested a run, and that run's poll
of the feed's API. Screenshots land in ``test-artifacts/ui/``.
"""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from local_services.loopback import free_port, wait_until, wait_until_serving
from resources.environment import EMBEDDED_INSTANCE_CONFIG, PROJECT_ROOT, SAMPLE_ARCHIVE
from sample_data.generator import generate_bucket
from sample_data.openaq_v3.archive import generate_archive
from tests.helpers import project_locations

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "ui"
ASSETS = [
    "openaq_realtime_bucket",
    "openaq_data_archive",
    "openaq_api_latest",
    "openaq_locations",
    "raw_openaq_measurements",
    "raw_openaq_archive",
    "raw_openaq_latest",
    "harmonized_toar_series",
    "ozone_features",
    "ozone_forecast_model",
    "ozone_forecasts",
]
DEPENDENCIES = 12  # the graph's edges (tests/snapshots/asset_graph.json)
LAUNCHED_DAY = "2014-01-06"  # in the mirror, not materialized by the main job
ARCHIVE_LOCATIONS, ARCHIVE_SEED = 8, 7


def archive_demo_days() -> list[str]:
    """The newest 3 days the live archive holds today (make demo's window, shortened)."""
    last = SAMPLE_ARCHIVE.window(date.today())[1]
    return [(last - timedelta(days=back)).isoformat() for back in (2, 1, 0)]


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A demo instance, filled by the main job over both sources, served by ``dagster dev`` on a
    loopback port beside the live feed, wired as ``make ui`` wires them."""
    root = tmp_path_factory.mktemp("ui")
    archive = root / "archive"
    env = {**os.environ, **project_locations(root), "OPENAQ_LOCATIONS": str(archive / "locations.json")}
    (root / "dagster_home").mkdir()
    (root / "dagster_home" / "dagster.yaml").write_text(EMBEDDED_INSTANCE_CONFIG)  # make ui's instance
    generate_bucket(root / "mirror", date(2014, 1, 1), days=6, stations=20, seed=7, objects_per_day=24)
    days = archive_demo_days()
    generate_archive(archive, date.fromisoformat(days[0]), len(days), ARCHIVE_LOCATIONS, ARCHIVE_SEED)
    for window in (
        ["--source", "realtime", "--start", "2014-01-01", "--end", "2014-01-05"],
        ["--start", days[0], "--end", days[-1]],
    ):
        filled = subprocess.run(
            [sys.executable, "-m", "main_job", *window],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert filled.returncode == 0, filled.stdout[-2000:] + filled.stderr[-2000:]

    feed_env = root / "live-feed.env"
    feed = subprocess.Popen(
        [sys.executable, "-m", "local_services.live_feed", "--archive", str(archive), "--env-file", str(feed_env)]
        + ["--locations", str(ARCHIVE_LOCATIONS), "--seed", str(ARCHIVE_SEED)],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=(root / "live-feed.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    wait_until(lambda: feed_env.exists() or feed.poll() is not None, timeout=60, what="the live feed to serve")
    assert feed.poll() is None, (root / "live-feed.log").read_text()
    words = shlex.split(feed_env.read_text())  # export NAME=value lines, read as a shell reads them
    env.update(word.split("=", 1) for word in words if word != "export")
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
        yield {"base": base, "dagster_home": env["DAGSTER_HOME"], "archive_days": days}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        feed.send_signal(signal.SIGINT)  # as Ctrl-C stops make ui's
        feed.wait(timeout=30)


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


def page_text(browser) -> str:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.TAG_NAME, "body").text


def open_page(browser, url):

    browser.get(url)
    time.sleep(2)
    skip_newsletter(browser)


def skip_newsletter(browser) -> None:
    """Close the first-visit newsletter modal, if shown (it may come seconds after the page)."""
    from selenium.webdriver.common.by import By

    for button in browser.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
        button.click()


def shows(label: str, name: str) -> bool:
    """Whether a node's label is ``name``, whole or shortened in its middle."""
    head, cut, tail = label.partition("…")
    return label == name or bool(cut) and name.startswith(head) and name.endswith(tail) and len(label) < len(name)


def test_asset_graph_shows_every_asset_and_its_lineage(ui, browser):
    from selenium.webdriver.common.by import By

    # The forecasts' whole upstream lineage: every asset of the graph, laid out to fit the page.
    open_page(browser, f"{ui['base']}/assets/ozone_forecasts?view=lineage&lineageScope=upstream&lineageDepth=6")

    def node_labels() -> list[str]:
        return [node.text for node in browser.find_elements(By.CSS_SELECTOR, "[class*='AssetNode_assetName']")]

    try:
        labels = wait_until(lambda: len(node_labels()) == len(ASSETS) and node_labels(), what="every asset's node")
        edges = browser.find_elements(By.CSS_SELECTOR, "svg path[marker-end^='url(#arrow']")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "asset_graph.png"))
    # Zoomed out to fit the page, a long name is shortened in its middle: "openaq_da…_archive".
    assert sorted(name for label in labels for name in ASSETS if shows(label, name)) == sorted(ASSETS), labels
    # Every dependency: the three sources, each raw asset into the harmonized series, down to the
    # forecasts (the layout may add group-to-group edges on top).
    assert len(edges) >= DEPENDENCIES, f"{len(edges)} lineage edges drawn"


def test_partitions_view_and_a_materialization_launched_from_the_ui(ui, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    open_page(browser, f"{ui['base']}/assets/raw_openaq_measurements?view=partitions")
    wait_until(lambda: "Partitions Selected" in page_text(browser), what="the partitions view")
    assert "Materialized (5)" in page_text(browser)  # the five days the main job wrote
    browser.save_screenshot(str(ARTIFACTS / "partitions_view.png"))

    def click_materialize() -> bool:
        """Click Materialize; what the page opened on its own over it (the newsletter modal, a toast,
        a menu) is closed first."""
        from selenium.common.exceptions import ElementClickInterceptedException

        buttons = [b for b in browser.find_elements(By.TAG_NAME, "button") if b.text.strip().startswith("Materialize")]
        if not buttons:
            return False
        try:
            buttons[0].click()
        except ElementClickInterceptedException:
            skip_newsletter(browser)
            browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
            return False
        return True

    wait_until(click_materialize, what="a click on Materialize")
    wait_until(lambda: "Launch runs to materialize" in page_text(browser), what="the launch dialog")
    for link in browser.find_elements(By.XPATH, "//*[normalize-space()='Show all partitions']"):
        link.click()
    time.sleep(1)
    field = wait_until(
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
    launch = wait_until(
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
    wait_until(lambda: "Launch runs to materialize" not in page_text(browser), what="the dialog to close")
    wait_until(
        lambda: "Materializing (1)" in page_text(browser) or "Materialized (6)" in page_text(browser),
        what="the partition to be materializing",
    )

    def succeeded():
        open_page(browser, f"{ui['base']}/runs")
        lines = page_text(browser).split("\n")
        rows = [i for i, line in enumerate(lines) if line == f"partition: {LAUNCHED_DAY}"]
        return rows and "Success" in lines[rows[0] : rows[0] + 8]

    try:
        wait_until(succeeded, timeout=240, interval=5, what=f"the run for {LAUNCHED_DAY} to succeed")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "runs.png"))

    from dagster import AssetKey, DagsterInstance

    with DagsterInstance.from_config(ui["dagster_home"]) as instance:
        assert LAUNCHED_DAY in instance.get_materialized_partitions(AssetKey("raw_openaq_measurements"))


# The data a Chart.js canvas draws, from the props of its React component (the chart's own
# numbers: the canvas has no DOM for its points). Labels are the x axis, one point per label.
CHART_DATA = """
const canvas = arguments[0];
let fiber = canvas[Object.keys(canvas).find(key => key.startsWith('__reactFiber'))];
for (; fiber; fiber = fiber.return) {
  const data = fiber.memoizedProps && fiber.memoizedProps.data;
  if (data && data.labels && data.datasets) return {labels: data.labels, points: data.datasets[0].data};
}
return null;
"""


def plotted_partitions(browser, title: str) -> set[str]:
    """The partitions with a point in the metadata plot headed ``title``."""
    from selenium.webdriver.common.by import By

    heading = browser.find_element(By.XPATH, f"//span[normalize-space()='{title}']")
    canvas = heading.find_element(By.XPATH, "./ancestor::*[.//canvas][1]").find_element(By.TAG_NAME, "canvas")
    chart = browser.execute_script(CHART_DATA, canvas)
    assert chart, f"no chart data behind the plot {title}"
    return {label for label, point in zip(chart["labels"], chart["points"], strict=True) if point["y"] is not None}


def test_qoa_plot_has_a_point_for_each_demo_day(ui, browser):
    from selenium.webdriver.common.by import By

    open_page(browser, f"{ui['base']}/assets/harmonized_toar_series")
    plots = wait_until(lambda: browser.find_elements(By.XPATH, "//button[normalize-space()='Plots']"), what="Plots")
    browser.execute_script("arguments[0].scrollIntoView()", plots[0])
    plots[0].click()
    wait_until(lambda: "qoa/wall_seconds" in page_text(browser), what="the QoA plots")
    heading = browser.find_element(By.XPATH, "//span[normalize-space()='qoa/wall_seconds']")
    browser.execute_script("arguments[0].scrollIntoView()", heading)
    try:
        # The plots by partition show the newest 120 days: the archive demo's days are among them.
        def demo_days_plotted() -> set[str] | None:
            plotted = plotted_partitions(browser, "qoa/wall_seconds")
            return plotted if set(ui["archive_days"]) <= plotted else None

        wall = wait_until(demo_days_plotted, what="points for the demo's days")
        assert set(ui["archive_days"]) <= plotted_partitions(browser, "qoa/cost_usd")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "qoa_plots.png"))
    assert all(day >= ui["archive_days"][0] for day in wall)  # nothing plotted before the demo


def test_a_checks_latest_result_names_its_demo_day_and_its_history_has_one_per_day(ui, browser):
    from selenium.webdriver.common.by import By

    def settled_latest() -> list[str] | None:
        """The latest execution's lines once it has a result: a run of the archive sensor may be
        checking a day again when the page opens (it then reads Running), so look again."""
        open_page(browser, f"{ui['base']}/assets/raw_openaq_archive?view=checks&checkDetail=records_valid")
        if "Latest execution" not in page_text(browser):
            return None
        lines = page_text(browser).split("\n")
        latest = lines[lines.index("Latest execution") :]
        if "Evaluation result" not in latest or latest[latest.index("Evaluation result") + 1] == "Running":
            return None
        return latest

    latest = wait_until(settled_latest, timeout=240, interval=5, what="the check's latest execution to have a result")
    browser.save_screenshot(str(ARTIFACTS / "check_latest.png"))
    assert latest[latest.index("Evaluation result") + 1] == "Passed"
    assert latest[latest.index("Partition") + 1] in ui["archive_days"]  # one result per day, not per run

    browser.find_element(By.XPATH, "//button[normalize-space()='Execution history']").click()
    rows = wait_until(
        lambda: [line for line in page_text(browser).split("\n") if line in ("Passed", "Failed")],
        what="the check's execution history",
    )
    browser.save_screenshot(str(ARTIFACTS / "check_history.png"))
    # The main job checked the demo's days in one run: each day has its own result.
    assert rows.count("Passed") >= len(ui["archive_days"]) and "Failed" not in rows


def test_a_sensor_tick_requests_a_run_that_polls_the_live_feed(ui, browser):
    from selenium.webdriver.common.by import By

    def requested():
        open_page(browser, f"{ui['base']}/locations/definitions/sensors/latest_openaq_values")
        return "1 run requested" in page_text(browser)

    try:
        wait_until(requested, timeout=120, interval=5, what="a tick of latest_openaq_values to request a run")
    finally:
        browser.save_screenshot(str(ARTIFACTS / "sensor_ticks.png"))

    # The run polled the feed: today's partition of raw_openaq_latest holds its values.
    today = datetime.now(UTC).date().isoformat()

    def polled() -> dict[str, str]:
        """The metadata table of the partition's materialization: {name: value as shown}."""
        open_page(browser, f"{ui['base']}/assets/raw_openaq_latest?view=partitions&partition={today}")
        rows = [row.find_elements(By.TAG_NAME, "td") for row in browser.find_elements(By.CSS_SELECTOR, "table tr")]
        return {cells[0].text: cells[1].text for cells in rows if len(cells) >= 2}

    try:
        metadata = wait_until(
            lambda: (shown := polled()).get("values_new") and shown, timeout=180, interval=5, what="the poll's metadata"
        )
    finally:
        browser.save_screenshot(str(ARTIFACTS / "latest_poll.png"))
    assert int(metadata["values_new"]) > 0 and metadata["rate_limited"] == "0", metadata
