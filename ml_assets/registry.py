"""Registry commands: show the aliases of the forecast model, or roll the champion back.

python -m ml_assets.registry show
python -m ml_assets.registry rollback
"""

from __future__ import annotations

import argparse
import os
import sys

from forecasting.registry import CHALLENGER, CHAMPION, RegisteredModel
from resources.environment import prepare_process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml_assets.registry",
        description="Inspect the MLflow registry of the ozone forecast model (MLFLOW_TRACKING_URI).",
    )
    parser.add_argument(
        "command",
        choices=["show", "rollback"],
        help="show: champion and challenger; rollback: give the champion alias back to the "
        "version the current champion replaced (its previous_champion tag)",
    )
    parser.add_argument("--model", default="ozone-forecast", help="registered model name (default %(default)s)")
    args = parser.parse_args(argv)
    prepare_process()
    registry = RegisteredModel(os.environ["MLFLOW_TRACKING_URI"], args.model)
    if args.command == "rollback":
        try:
            replaced, restored = registry.rollback()
        except RuntimeError as exc:
            print(f"rollback refused: {exc}", file=sys.stderr)
            return 1
        print(f"{args.model}: champion is version {restored} again (version {replaced} is tagged rolled_back)")
        return 0
    for alias in (CHAMPION, CHALLENGER):
        version = registry.version(alias)
        if version is None:
            print(f"{alias}: none")
        else:
            print(
                f"{alias}: version {version.version} (run {version.run_id}, "
                f"previous champion {version.tags.get('previous_champion', '-')})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
