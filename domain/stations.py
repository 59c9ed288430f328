"""Station identity: a station is its coordinates, rounded (names are not unique).

Rules: coordinates are rounded to COORDINATE_DECIMALS decimals (half to even), and the rounded
pair is the station's key. Latitude must lie in [-90, 90] and longitude in [-180, 180] as
published; a pair whose key is (0, 0) ("null island", the default of broken GPS and
geocoders) is invalid, whether it was published as (0, 0) or only rounds to it.
"""

from __future__ import annotations

import numpy as np

COORDINATE_DECIMALS = 4  # 1e-4 degree, about 11 m


def coordinate_key(degrees: np.ndarray) -> np.ndarray:
    """Coordinates rounded to COORDINATE_DECIMALS, as integers: a station's identity."""
    return (degrees * 10**COORDINATE_DECIMALS).round().astype("int64")


def station_key(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """One integer per coordinate key pair (|lon_key| < 2e6)."""
    return coordinate_key(lat) * 4_000_000 + coordinate_key(lon)


def at_null_island(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Which coordinate pairs have the key (0, 0). Computed in floating point, so missing or
    out-of-range coordinates (never cast to integers) simply read False."""
    scale = 10**COORDINATE_DECIMALS
    with np.errstate(invalid="ignore", over="ignore"):
        return (np.round(lat * scale) == 0) & (np.round(lon * scale) == 0)
