"""The code location of tests/test_orphan_writer.py: one asset that writes a day of harmonized
rows into the TOAR database (ORPHAN_TOAR_URL) through the harmonized asset's writer and guard,
holding a ``toar_database`` pool slot, in a process of its own (the multiprocess executor).

Just before its commit, the step touches ORPHAN_READY_FILE and waits while ORPHAN_HOLD_FILE
exists: the test kills the run worker meanwhile, then lets the orphaned step go on to its guard.
"""

import os
import time
from pathlib import Path

import dagster as dg

from asset_base.run_guard import ensure_run_alive
from resources.quality_gates import QualityGates
from resources.toar_database import ToarDatabase
from tests.openaq_fixtures import raw_table, record
from toar_assets.assets import _harmonize_while_writing

DAY = "2014-01-01"
STATIONS = 5


@dg.asset(pool="toar_database")
def orphan_day(context: dg.AssetExecutionContext) -> None:
    raw = raw_table(
        [record(location=f"Station {i}", coordinates={"latitude": 50.0 + i, "longitude": 7.0}) for i in range(STATIONS)]
    )

    def before_commit() -> None:
        Path(os.environ["ORPHAN_READY_FILE"]).write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while os.path.exists(os.environ["ORPHAN_HOLD_FILE"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        ensure_run_alive(context, f"{DAY} of orphan_day")

    database = ToarDatabase(url=os.environ["ORPHAN_TOAR_URL"])
    _harmonize_while_writing(database, DAY, raw, QualityGates(), before_commit)


orphan_writer = dg.define_asset_job("orphan_writer", [orphan_day], executor_def=dg.multiprocess_executor)

defs = dg.Definitions(assets=[orphan_day], jobs=[orphan_writer])
