"""Quality of analytics (QoA): what each partition's work cost, recorded as ``qoa/*`` metadata.

One mechanism for every asset: ``with qoa.measure() as m:`` around a partition's work, then
``m.metadata(rows_in=..., ...)`` gives the numeric ``qoa/`` figures for the materialization.
Figures are of this process (psutil), not of the host.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil
from dagster import ConfigurableResource
from pydantic import Field

GB = 1024**3
MB = 1024**2
RSS_SAMPLE_SECONDS = 0.05


@dataclass
class Measurement:
    """Wall and CPU seconds and peak resident memory of one measured block of work."""

    usd_per_vcpu_hour: float
    usd_per_gb_hour: float
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0

    @property
    def cost_usd(self) -> float:
        """CPU-seconds actually used, plus the peak memory held for the wall time (Fargate-style)."""
        cpu = self.cpu_seconds / 3600 * self.usd_per_vcpu_hour
        memory = self.peak_rss_bytes / GB * self.wall_seconds / 3600 * self.usd_per_gb_hour
        return cpu + memory

    def metadata(self, **figures: float | int | None) -> dict[str, float | int]:
        """The ``qoa/`` metadata: measured figures plus the counts the asset passes in.

        The measured figures are rounded where people read them (seconds to the millisecond,
        memory in MB to 0.1, cost to 6 significant digits) and stay numbers, so the UI plots them.
        Count names used across assets: rows_in, rows_out, bytes_in, bytes_out,
        rows_quarantined, duplicates, data_quality_score, and model metrics (model_rmse, ...).
        """
        values = {
            "wall_seconds": round(self.wall_seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "peak_rss_mb": round(self.peak_rss_bytes / MB, 1),
            "cost_usd": cost_figure(self.cost_usd),
            **{name: value for name, value in figures.items() if value is not None},
        }
        return {f"qoa/{name}": _number(value) for name, value in values.items()}


def freeze_long_lived_objects() -> None:
    """Leave every object alive now out of later full collections.

    Called when a run worker forked from the preloaded server starts, when the code location
    has loaded and when great-expectations or mlflow is first set up: those objects (hundreds
    of thousands) live as long as the process, and each full collection walked them all again,
    a pause in whichever partition's work it fell (measured in the README, Performance).
    Reference counting still frees any of them that goes. No collection first: after the code
    location's load and great_expectations' import it found no garbage and cost 0.1 and 0.2 s.
    """
    gc.freeze()


class QoAMonitor(ConfigurableResource):
    """Measures work and prices it. Default prices: AWS Fargate (us-east-1, Linux/x86)."""

    usd_per_vcpu_hour: float = Field(default=0.04048, description="price of one vCPU for an hour")
    usd_per_gb_hour: float = Field(default=0.004445, description="price of one GB of memory for an hour")

    @contextmanager
    def measure(self) -> Iterator[Measurement]:
        process = psutil.Process()
        measurement = Measurement(self.usd_per_vcpu_hour, self.usd_per_gb_hour)
        peak = [process.memory_info().rss]
        done = threading.Event()

        def sample() -> None:
            # A thread samples RSS so a short peak between the start and the end is seen.
            while not done.wait(RSS_SAMPLE_SECONDS):
                peak[0] = max(peak[0], process.memory_info().rss)

        sampler = threading.Thread(target=sample, daemon=True)
        cpu_before = _cpu_seconds(process)
        wall_before = time.perf_counter()
        sampler.start()
        try:
            yield measurement
        finally:
            done.set()
            sampler.join()
            measurement.wall_seconds = time.perf_counter() - wall_before
            measurement.cpu_seconds = _cpu_seconds(process) - cpu_before
            measurement.peak_rss_bytes = max(peak[0], process.memory_info().rss)


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def cost_figure(cost_usd: float) -> float:
    """A cost as it is recorded and judged: 6 significant digits."""
    return float(f"{cost_usd:.6g}")


def _number(value) -> float | int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return float(value)
