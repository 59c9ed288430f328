"""Seeded random streams, one per thing described.

Every draw comes from ``numpy.random.default_rng([seed, stream, *keys])``, keyed by what it
describes (a station, a measurement day, a fetch day, a region's day), so a day's bytes do not
depend on how many days or which other days are generated.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """The second element of every seed. The numbers are part of the output: never renumber."""

    STATION = 0
    CITY_ORDER = 1
    WEATHER = 2
    MEASUREMENTS = 3
    OBJECTS = 4
    FAULTS = 5
    ARCHIVE_LOCATION = 6  # the v3 archive (openaq_v3): a location's ids, units and habits
    ARCHIVE_VALUES = 7  # a location-day's values that the model does not give
    ARCHIVE_FILE = 8  # a location-day's file: absence, BOM, sentinels, broken lines
    ARCHIVE_PATCH = 9  # a patch: the files and values it changes
    DAILY_WEATHER = 10  # a region's day-to-day weather: its draws of one UTC day


def random_stream(seed: int, stream: Stream, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, int(stream), *keys])
