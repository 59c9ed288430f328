"""Holdout plots: observations against forecasts, as PNG bytes for metadata and MLflow (no Dagster)."""

from __future__ import annotations

import io

import numpy as np


def forecast_plot(
    x,
    observed,
    forecasts: dict[str, np.ndarray],
    *,
    ylabel: str,
    title: str,
    references: dict[str, np.ndarray] | None = None,
    size: tuple[float, float] = (8, 3.2),
    dpi: int = 100,
    marker: str | None = None,
) -> bytes:
    """PNG: ``observed`` in black, each forecast as a line, each reference dashed, over ``x``."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=size, dpi=dpi)
    axis.plot(x, observed, color="black", linewidth=2, marker=marker, label="observed")
    for name, values in forecasts.items():
        axis.plot(x, values, linewidth=1.2, marker=marker, label=name)
    for name, values in (references or {}).items():
        axis.plot(x, values, linewidth=1.2, linestyle="--", label=name)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.legend(loc="upper left", fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
