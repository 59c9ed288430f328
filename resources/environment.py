"""The one place that decides where everything lives.

Every location comes from an environment variable (README, "Configuration"). When a
variable is unset, an embedded default under the project's ``data/`` folder is filled in, so
the project runs offline with no server. Resources read the variables through ``EnvVar``, so
the Dagster UI shows the variable's name, never a credential inside a URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = PROJECT_ROOT / "data"


@dataclass(frozen=True)
class SampleMirror:
    """Arguments of the sample generator that make the default local bucket."""

    path: Path
    start: date
    days: int
    stations: int
    seed: int


# January 2014: covers the source paper's evaluation window (2014-01-01..2014-01-10) and a month
# of backfill.
SAMPLE_MIRROR = SampleMirror(path=DATA_DIR / "openaq-mirror", start=date(2014, 1, 1), days=31, stations=40, seed=2014)


@dataclass(frozen=True)
class SampleArchive:
    """Arguments of the sample generator that make the default local v3 archive: the recent
    days the live archive holds (it publishes a day about three days after it ended), with
    locations at the coordinates of the v1 mirror's stations (the same seed)."""

    path: Path
    days: int
    locations: int
    seed: int
    publication_lag_days: int = 3

    def window(self, today: date) -> tuple[date, date]:
        """The first and last local day the live archive would hold today, ``days`` of them."""
        last = today - timedelta(days=self.publication_lag_days)
        return last - timedelta(days=self.days - 1), last


SAMPLE_ARCHIVE = SampleArchive(path=DATA_DIR / "openaq-archive", days=30, locations=40, seed=SAMPLE_MIRROR.seed)
# The catalog file the generator writes beside the archive's records (as the v3 API lists them).
SAMPLE_CATALOG_FILE = "locations.json"

DEFAULTS = {
    "OPENAQ_BUCKET_URL": str(SAMPLE_MIRROR.path),
    "OPENAQ_ARCHIVE_URL": str(SAMPLE_ARCHIVE.path),
    "TOAR_DATABASE_URL": f"sqlite:///{DATA_DIR / 'toar.sqlite'}",
    "MLFLOW_TRACKING_URI": f"sqlite:///{DATA_DIR / 'mlflow.sqlite'}",
    "DATA_LAKE_URL": str(DATA_DIR / "lake"),
    "DAGSTER_HOME": str(PROJECT_ROOT / ".dagster_home"),
}


# The embedded instance: SQLite storage (Dagster's default), no telemetry (it is offline), and run
# monitoring and run retries like deploy/dagster.yaml: the daemon fails a run that does not start
# or does not finish cancelling within 3 minutes, checking every 30 s, frees the pool slots a
# finished run still holds 30 s after its end, and retries a run that failed as a whole (not by
# its steps) twice. A run worker cannot be resumed, so none is (max_resume_run_attempts: 0). The
# run queue looks for runs to launch every second, not every 5 s: a backfill's runs wait for it
# one after another (benchmarks/README.md, section 8). Runs start in workers forked from a server
# with the run's libraries and the code location imported (asset_base.forkserver_launcher): a cold
# day's run without the 7 s a fresh interpreter spends importing them, nor the code location's 0.9 s
# load. An edit is never stale: a worker whose server imported files changed since imports the
# project again from disk.
_TELEMETRY = "telemetry:\n  enabled: false\n"
_LIBRARIES_ONLY_LAUNCHER = """\
run_launcher:
  module: asset_base.forkserver_launcher
  class: ForkserverRunLauncher
  config:
    preload_modules:
      - dagster
      - pandas
      - pyarrow
      - sqlalchemy
      - great_expectations
      - mlflow
      - sklearn.ensemble
"""
_RUN_LAUNCHER = _LIBRARIES_ONLY_LAUNCHER + "      - definitions\n"
_RUNS = """\
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 30
  free_slots_after_run_end_seconds: 30
run_retries:
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false
run_queue:
  dequeue_interval_seconds: 1
"""
EMBEDDED_INSTANCE_CONFIG = _TELEMETRY + _RUN_LAUNCHER + _RUNS
# What earlier versions wrote: replaced, as nobody changed it; an edited file is left alone.
_MONITORING_ONLY = (
    _TELEMETRY + "run_monitoring:\n  enabled: true\n  start_timeout_seconds: 180\n"
    "  cancel_timeout_seconds: 180\n  max_resume_run_attempts: 0\n  poll_interval_seconds: 60\n"
)
_EARLIER_EMBEDDED_CONFIGS = (
    _TELEMETRY,
    _MONITORING_ONLY,  # before pool slots were freed and runs retried
    _MONITORING_ONLY + "run_queue:\n  dequeue_interval_seconds: 1\n",
    _TELEMETRY + _RUNS,  # before runs were forked from a preloaded server
    _TELEMETRY + _LIBRARIES_ONLY_LAUNCHER + _RUNS,  # before the server preloaded the code location
)


def apply_defaults() -> None:
    """Fill unset variables with the embedded defaults and create the local folders they name."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    if any(os.environ[name] == value and str(DATA_DIR) in value for name, value in DEFAULTS.items()):
        DATA_DIR.mkdir(exist_ok=True)  # only when an embedded default lives there
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    instance_config = home / "dagster.yaml"
    if home.resolve() == Path(DEFAULTS["DAGSTER_HOME"]).resolve() and (
        not instance_config.exists() or instance_config.read_text() in _EARLIER_EMBEDDED_CONFIGS
    ):
        # Renamed into place: a process loading the instance meanwhile reads the old file or the new.
        partial = home / f"dagster.yaml.{os.getpid()}.partial"
        partial.write_text(EMBEDDED_INSTANCE_CONFIG)
        os.replace(partial, instance_config)


# DEPLOYMENT=production: every location must be set, or the process (the code location's load
# included) stops naming the unset ones. A code server that lacked TOAR_DATABASE_URL used to write
# to a local SQLite file instead, and nobody noticed; the embedded defaults are for a laptop.
DEPLOYMENT_VARIABLE = "DEPLOYMENT"
PRODUCTION = "production"


class MissingLocations(RuntimeError):
    """In production mode, a location variable is unset (or DEPLOYMENT is misspelled)."""


def is_production() -> bool:
    """True with DEPLOYMENT=production; an unknown value is refused rather than taken as embedded."""
    deployment = os.environ.get(DEPLOYMENT_VARIABLE, "")
    if deployment not in ("", PRODUCTION):
        raise MissingLocations(f"{DEPLOYMENT_VARIABLE}={deployment!r}: set it to {PRODUCTION!r} or leave it unset")
    return deployment == PRODUCTION


def require_locations() -> None:
    """Raise naming every location variable of DEFAULTS that is unset."""
    missing = [name for name in DEFAULTS if not os.environ.get(name)]
    if missing:
        raise MissingLocations(
            f"{DEPLOYMENT_VARIABLE}={PRODUCTION} and {', '.join(missing)} unset: set "
            f"{'it' if len(missing) == 1 else 'them'} (README, Configuration); the embedded local defaults "
            f"apply only without {DEPLOYMENT_VARIABLE}={PRODUCTION}"
        )


def prepare_process() -> None:
    """What a process of this project does once, where it starts (a command-line entry point,
    or the code location's load): fill in the embedded defaults (in production mode, require
    every location instead), and pick Arrow's allocator.

    Arrow's default allocator, mimalloc, backs its memory with transparent huge pages, which the
    kernel zeroes when first touched; a fresh step process is faster with the system allocator
    (measured in benchmarks/README.md, section 1). ARROW_DEFAULT_MEMORY_POOL still picks another.
    """
    if is_production():
        require_locations()
    else:
        apply_defaults()
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())


def uses_sample_mirror() -> bool:
    """True when the v1 bucket is the embedded default (which the sample generator makes)."""
    return Path(os.environ.get("OPENAQ_BUCKET_URL", "")).resolve() == SAMPLE_MIRROR.path.resolve()


def uses_sample_archive() -> bool:
    """True when the v3 archive is the embedded default (which the sample generator makes)."""
    return Path(os.environ.get("OPENAQ_ARCHIVE_URL", "")).resolve() == SAMPLE_ARCHIVE.path.resolve()


if __name__ == "__main__":
    # `eval "$(python -m resources.environment)"` exports the locations this project will use.
    prepare_process()
    for variable in DEFAULTS:
        print(f"export {variable}='{os.environ[variable]}'")
