"""Seeded random streams, one per thing described.

Every draw comes from ``numpy.random.default_rng([seed, stream, *keys])``, keyed by what it
describes (a station, a measurement day, a fetch day), so a day's bytes do not depend on how
many days or which other days are generated.
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


def random_stream(seed: int, stream: Stream, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, int(stream), *keys])
