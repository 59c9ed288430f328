"""Create or upgrade the schemas of the project's databases, with their owner's credentials.

    python -m migrate

Run it before the first deploy and after each upgrade of this project (README, "Deploying"), in
the code location's environment. It migrates:

- the TOAR database (``TOAR_DATABASE_URL``): the TOAR tables, the forecast table (forecasting/)
  and the run-failure table (sensors/), so runs need only data privileges;
- MLflow's tracking store (``MLFLOW_TRACKING_URI``) when it is a database: MLflow's own migrations,
  what ``mlflow db upgrade`` does (a tracking server migrates its store itself).

Dagster's instance has its own command, ``dagster instance migrate``, printed as a reminder.
"""

from __future__ import annotations

import argparse
import os

import toar.database
from domain.secrets import encode_credentials, mask_secrets, url_secrets
from forecasting.tables import FORECAST_TABLES
from resources.environment import prepare_process
from sensors.failures import pipeline_failure

# Every table of the TOAR database beyond the TOAR schema's own, from the layers that own them.
EXTRA_TABLES = [*FORECAST_TABLES, pipeline_failure]
# Tracking stores MLflow keeps in a database through SQLAlchemy (its other schemes are servers or folders).
MLFLOW_DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def migrate_toar(url: str) -> None:
    """Create or upgrade the TOAR database's tables (nothing is changed when they are current)."""
    engine = toar.database.create_engine(encode_credentials(url))
    try:
        toar.database.ensure_schema(engine, extra_tables=EXTRA_TABLES)
    finally:
        engine.dispose()


def migrate_mlflow(tracking_uri: str) -> bool:
    """Run MLflow's migrations on a database tracking store; False for a server or a folder."""
    if tracking_uri.split(":", 1)[0].split("+", 1)[0] not in MLFLOW_DATABASE_SCHEMES:
        return False
    from mlflow.db import upgrade

    # `mlflow db upgrade <uri>`, run in this process: the URI's password stays off any command line.
    upgrade.main(args=[tracking_uri], standalone_mode=False)
    return True


def _shown(url: str) -> str:
    return mask_secrets(url, url_secrets(url))


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m migrate",
        description="Create or upgrade the TOAR database's schema and MLflow's tracking database, "
        "with the owner's credentials, before the first deploy and after each upgrade.",
    ).parse_args(argv)
    prepare_process()  # the code location's locations (and, in production mode, all of them set)
    toar_url, tracking_uri = os.environ["TOAR_DATABASE_URL"], os.environ["MLFLOW_TRACKING_URI"]
    migrate_toar(toar_url)
    print(f"TOAR database {_shown(toar_url)}: schema current")
    if migrate_mlflow(tracking_uri):
        print(f"MLflow tracking database {_shown(tracking_uri)}: schema current")
    else:
        print(f"MLflow at {_shown(tracking_uri)}: not a database; its server migrates its own store")
    print("Dagster's instance: run `dagster instance migrate` (with DAGSTER_HOME set) after upgrading Dagster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
