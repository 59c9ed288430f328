import time

import numpy as np
import pytest

from resources.qoa import GB, QoAMonitor


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        sum(i * i for i in range(1000))


def test_measures_process_cpu_wall_and_prices_them_with_the_model():
    qoa = QoAMonitor(usd_per_vcpu_hour=3600.0, usd_per_gb_hour=0.0)  # 1 USD per CPU-second
    with qoa.measure() as m:
        burn(0.3)
        time.sleep(0.1)
    assert 0.25 <= m.cpu_seconds <= 1.0
    assert m.wall_seconds - m.cpu_seconds >= 0.05  # the sleep is wall time, not CPU time
    assert m.cost_usd == pytest.approx(m.cpu_seconds)


def test_cost_charges_memory_held_for_the_wall_time():
    qoa = QoAMonitor()  # Fargate defaults
    with qoa.measure() as m:
        time.sleep(0.05)
    expected = m.cpu_seconds / 3600 * 0.04048 + m.peak_rss_bytes / GB * m.wall_seconds / 3600 * 0.004445
    assert m.cost_usd == pytest.approx(expected)
    assert m.cost_usd > 0


def test_peak_rss_sees_a_transient_allocation():
    qoa = QoAMonitor()
    with qoa.measure() as baseline:
        time.sleep(0.1)
    with qoa.measure() as m:
        block = np.ones(300 * 1024 * 1024 // 8)  # 300 MB, touched
        time.sleep(0.2)
        del block
    assert m.peak_rss_bytes - baseline.peak_rss_bytes > 200 * 1024 * 1024


def test_metadata_keys_are_stable_and_numeric():
    with QoAMonitor().measure() as m:
        burn(0.05)
    metadata = m.metadata(
        rows_in=10, rows_out=8, rows_quarantined=2, duplicates=0, data_quality_score=1.0, bytes_in=None
    )
    assert set(metadata) == {
        "qoa/wall_seconds",
        "qoa/cpu_seconds",
        "qoa/peak_rss_mb",
        "qoa/cost_usd",
        "qoa/rows_in",
        "qoa/rows_out",
        "qoa/rows_quarantined",
        "qoa/duplicates",
        "qoa/data_quality_score",
    }
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in metadata.values())
    assert metadata["qoa/cpu_seconds"] > 0
