"""Requests for the served models, built by the same feature functions as training.

python -m ml_assets.serving --at 2014-01-10T23:00 > request.json        # hourly model
python -m ml_assets.serving --daily 2026-11-29 > request.json           # dma8eu model, leads 1-4 days
curl -s -X POST -H 'Content-Type: application/json' -d @request.json http://127.0.0.1:5001/invocations
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date, datetime, timedelta

import pandas as pd

from forecasting.features import FEATURE_COLUMNS, KEY_COLUMNS


def invocation_payload(features: pd.DataFrame, columns: list[str] = FEATURE_COLUMNS) -> dict:
    """The JSON body MLflow's /invocations takes: the model's input columns, row by row."""
    return {"dataframe_split": {"columns": columns, "data": features[columns].to_numpy().tolist()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml_assets.serving",
        description="Print an /invocations request with one feature row per station, for an issue hour "
        "(hourly model) or an issue date (dma8eu model), read from the TOAR database (TOAR_DATABASE_URL). "
        "The rows' keys go to stderr.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--at", type=datetime.fromisoformat, help="hourly model: issue time (UTC), e.g. 2014-01-10T23:00"
    )
    which.add_argument(
        "--daily",
        type=date.fromisoformat,
        help="dma8eu model: issue date (the station's local day whose end the forecast is issued at), "
        "e.g. 2026-11-29; the answer has one value per lead (1-4 days) per row",
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
    if args.daily is not None:
        from forecasting.dma8eu import FEATURE_COLUMNS as DAILY_FEATURES
        from forecasting.dma8eu import KEY_COLUMNS as DAILY_KEYS
        from ml_assets.dma8eu import read_daily_rows

        rows, _ = read_daily_rows(engine, args.daily, args.daily, args.daily)
        if rows.empty:
            print(f"no station has a valid dma8eu on {args.daily}", file=sys.stderr)
            return 1
        print(rows[DAILY_KEYS].to_string(index=False), file=sys.stderr)
        json.dump(invocation_payload(rows, DAILY_FEATURES), sys.stdout)
        print()
        return 0
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
