"""A deterministic generator of OpenAQ-like source objects, for the demo, tests and benchmarks.
Not part of the code location: nothing the product runs at a user's site imports it.

The simulated world, independent of any output format:
    ``network``         countries, cities, stations and the series (station, parameter) they measure
    ``weather``         regional weather: multi-day regimes of absolute time, day-to-day
                        anomalies drawn per region and day, the regional temperature anomaly,
                        the season
    ``concentrations``  the values of every series in a UTC day (diurnal and seasonal cycles,
                        temperature and weather, noise)
    ``randomness``, ``clock``  seeded random streams; UTC days as unix seconds
Output formats, one subpackage each:
    ``openaq_v1``       the v1 realtime bucket: objects per fetch day, ndjson lines, faults
    ``openaq_v3``       the v3 archive: a gzipped CSV per location and local day, the locations'
                        catalog, patched re-writes
``files`` writes files atomically (gzip without a timestamp) on a few threads; ``generator`` is
the public API and command line (``python -m sample_data.generator``).
"""
