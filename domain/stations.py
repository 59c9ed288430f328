"""Station identity: a station is its coordinates, rounded (names are not unique)."""

from __future__ import annotations

import numpy as np

COORDINATE_DECIMALS = 4  # 1e-4 degree, about 11 m


def coordinate_key(degrees: np.ndarray) -> np.ndarray:
    """Coordinates rounded to COORDINATE_DECIMALS, as integers: a station's identity."""
    return (degrees * 10**COORDINATE_DECIMALS).round().astype("int64")


def station_key(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """One integer per coordinate key pair (|lon_key| < 2e6)."""
    return coordinate_key(lat) * 4_000_000 + coordinate_key(lon)
