"""Requests for the served model, built by the same feature function as training.

python -m ml_assets.serving --at 2014-01-10T23:00 > request.json
curl -s -X POST -H 'Content-Type: application/json' -d @request.json http://127.0.0.1:5001/invocations
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timedelta

import pandas as pd

from forecasting.features import FEATURE_COLUMNS, KEY_COLUMNS


def invocation_payload(features: pd.DataFrame) -> dict:
    """The JSON body MLflow's /invocations takes: the model's input columns, row by row."""
    return {"dataframe_split": {"columns": FEATURE_COLUMNS, "data": features[FEATURE_COLUMNS].to_numpy().tolist()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml_assets.serving",
        description="Print an /invocations request with one feature row per station for an issue hour, "
        "read from the TOAR database (TOAR_DATABASE_URL). The rows' keys go to stderr.",
    )
    parser.add_argument(
        "--at", type=datetime.fromisoformat, required=True, help="issue time (UTC), e.g. 2014-01-10T23:00"
    )
    parser.add_argument(
        "--horizon", type=int, default=None, help="forecast horizon in hours (default FORECAST_HORIZON_HOURS or 1)"
    )
    args = parser.parse_args(argv)

    from forecasting.features import features_for_window
    from resources import forecast_horizon_hours
    from resources.environment import prepare_process
    from resources.toar_database import ToarDatabase

    prepare_process()
    engine = ToarDatabase(url=os.environ["TOAR_DATABASE_URL"]).engine()
    features, _ = features_for_window(
        engine, args.at, args.at + timedelta(hours=1), args.horizon or forecast_horizon_hours()
    )
    if features.empty:
        print(f"no station has complete features at {args.at}", file=sys.stderr)
        return 1
    print(features[KEY_COLUMNS].to_string(index=False), file=sys.stderr)
    json.dump(invocation_payload(features), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
