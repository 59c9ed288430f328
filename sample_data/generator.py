"""Deterministic local mirror of the OpenAQ v1 "realtime" S3 bucket (``openaq-fetches``).

This is the embedded default data source of the code location (the demo backfills
2014-01-01..2014-01-10 from it) and the data set of the ingestion benchmark.

Layout written below ``out``::

    YYYY-MM-DD/<unix>.ndjson.gz           legacy objects (gzip)
    YYYY-MM-DD/<unix>_<suffix>.ndjson     newer objects (plain text)

The folder is the UTC fetch day, ``<unix>`` the publish time of the object inside that
day. Every line is one OpenAQ measurement with the exact OpenAQ keys and key order.

Determinism: the same arguments give byte-identical files. Every random draw comes from
``numpy.random.default_rng([seed, ...])`` keyed by what it describes (station index,
measurement day, fetch day), and slow "weather" signals are sums of sinusoids of absolute
time, so a day's bytes do not depend on how many days are generated.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import shutil
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from domain.vocabulary import UG_M3_PER_PPB

__all__ = [
    "BucketSummary",
    "PARAMETERS",
    "UNITS",
    "UG_PER_PPB",
    "generate_bucket",
    "main",
]

DAY = 86400
PARAMETERS = ("pm25", "pm10", "no2", "so2", "o3", "co", "bc", "no", "nox", "pm1")
UG = "µg/m³"  # U+00B5 micro sign, exactly as OpenAQ spells it
UNITS = (UG, "ppm", "ppb")
# µg/m³ per ppb, the same 20 °C factors harmonization divides by (NOx is expressed as NO2).
UG_PER_PPB = {**UG_M3_PER_PPB, "nox": UG_M3_PER_PPB["no2"]}

GZIP_LEVEL = 3  # fast; the ratio barely differs from level 6 on this repetitive text
SUFFIXED_SHARE = 1 / 6  # share of newer-style objects with --naming mixed
TRUNCATE_EVERY = 3  # a truncated gzip object on every 3rd fetch day (by ordinal)
BROKEN_KINDS = ("cut", "string_value", "nan_value", "unknown_unit", "absurd_value")

# RNG stream tags: the second element of every seed sequence.
_S_STATION, _S_CITY_ORDER, _S_WEATHER, _S_MEASURE, _S_OBJECTS, _S_FAULTS = range(6)


# --------------------------------------------------------------------------- network


@dataclass(frozen=True)
class _Country:
    code: str
    source_name: str
    attribution: tuple[tuple[str, str], ...]
    gas_unit: str  # the unit the national network uses for gases
    cities: tuple[tuple[str, float, float], ...]
    source_type: str = "government"


COUNTRIES: tuple[_Country, ...] = (
    _Country("DE", "Umweltbundesamt",
             (("Umweltbundesamt", "http://www.umweltbundesamt.de/en/data/current-concentrations-of-air-pollutants-in-germany"),),
             UG, (("Berlin", 52.520008, 13.404954), ("Hamburg", 53.551086, 9.993682),
                  ("München", 48.137154, 11.576124), ("Köln", 50.937531, 6.960279),
                  ("Frankfurt am Main", 50.110924, 8.682127))),
    _Country("FR", "EEA France",
             (("EEA", "http://www.eea.europa.eu/themes/air/air-quality/map/real-time-map"),),
             UG, (("Paris", 48.856613, 2.352222), ("Lyon", 45.764043, 4.835659),
                  ("Marseille", 43.296482, 5.369780), ("Toulouse", 43.604652, 1.444209))),
    _Country("ES", "EEA Spain",
             (("EEA", "http://www.eea.europa.eu/themes/air/air-quality/map/real-time-map"),),
             UG, (("Madrid", 40.416775, -3.703790), ("Barcelona", 41.385064, 2.173404),
                  ("Sevilla", 37.389092, -5.984459), ("Valencia", 39.469907, -0.376288))),
    _Country("GB", "DEFRA",
             (("Department for Environment, Food & Rural Affairs", "http://uk-air.defra.gov.uk/latest/currentlevels"),),
             UG, (("London", 51.507351, -0.127758), ("Manchester", 53.480759, -2.242631),
                  ("Birmingham", 52.486243, -1.890401), ("Glasgow", 55.864237, -4.251806))),
    _Country("NL", "Netherlands",
             (("RIVM - Landelijk Meetnet Luchtkwaliteit", "http://www.lml.rivm.nl/tabel/"),),
             UG, (("Amsterdam", 52.370216, 4.895168), ("Rotterdam", 51.924420, 4.477733),
                  ("Utrecht", 52.090737, 5.121420))),
    _Country("PL", "GIOS",
             (("Główny Inspektorat Ochrony Środowiska", "http://powietrze.gios.gov.pl/pjp/current"),),
             UG, (("Warszawa", 52.229676, 21.012229), ("Kraków", 50.064650, 19.944980),
                  ("Wrocław", 51.107885, 17.038538))),
    _Country("US", "AirNow",
             (("US EPA AirNow", "http://www.airnow.gov/"), ("Local air quality agency", "http://www.airnow.gov/index.cfm?action=airnow.partnerslist")),
             "ppm", (("Los Angeles-Long Beach-Santa Ana", 34.052235, -118.243683),
                     ("New York-Northern New Jersey-Long Island", 40.712776, -74.005974),
                     ("Chicago-Naperville-Joliet", 41.878113, -87.629799),
                     ("Houston-Sugar Land-Baytown", 29.760427, -95.369804),
                     ("Denver-Aurora", 39.739236, -104.990251))),
    _Country("CA", "AirNow",
             (("US EPA AirNow", "http://www.airnow.gov/"), ("Environment Canada", "http://www.ec.gc.ca/air/")),
             "ppm", (("Toronto", 43.653225, -79.383186), ("Montréal", 45.501690, -73.567253),
                     ("Vancouver", 49.282730, -123.120735))),
    _Country("MX", "Sinaica",
             (("SINAICA", "http://sinaica.inecc.gob.mx/"),),
             "ppm", (("Ciudad de México", 19.432608, -99.133209), ("Guadalajara", 20.659698, -103.349609),
                     ("Monterrey", 25.686613, -100.316116))),
    _Country("BR", "Sao Paulo",
             (("CETESB", "http://sistemasinter.cetesb.sp.gov.br/ar/php/mapa_qualidade_rmsp.php"),),
             UG, (("São Paulo", -23.550520, -46.633308), ("Campinas", -22.907104, -47.063240),
                  ("Santos", -23.960833, -46.333611))),
    _Country("CL", "Chile - SINCA",
             (("SINCA", "http://sinca.mma.gob.cl/"), ("CENMA", "http://www.cenma.cl")),
             "ppm", (("Santiago", -33.448890, -70.669265), ("Valparaíso", -33.047238, -71.612688),
                     ("Concepción", -36.827013, -73.050160))),
    _Country("IN", "CPCB",
             (("Central Pollution Control Board", "http://www.cpcb.gov.in/CAAQM/frmUserAvgReportCriteria.aspx"),),
             UG, (("Delhi", 28.704060, 77.102493), ("Mumbai", 19.075983, 72.877655),
                  ("Chennai", 13.082680, 80.270721), ("Kolkata", 22.572645, 88.363892))),
    _Country("CN", "ChinaAQIData",
             (("China National Environmental Monitoring Centre", "http://113.108.142.147:20035/emcpublish/"),),
             UG, (("Beijing", 39.904202, 116.407394), ("Shanghai", 31.230391, 121.473701),
                  ("Guangzhou", 23.129110, 113.264381))),
    _Country("AU", "Australia - New South Wales",
             (("NSW - Office of Environment and Heritage", "http://www.environment.nsw.gov.au/AQMS/hourlydata.htm"),),
             "ppm", (("Sydney", -33.868820, 151.209290), ("Newcastle", -32.928272, 151.781688),
                     ("Wollongong", -34.424180, 150.893850))),
)
# Names used by monitoring networks in many cities; they make "location" alone ambiguous.
SHARED_NAMES = ("Centro", "Downtown", "City Centre", "Airport", "University")
DISTRICTS = ("North", "South", "East", "West", "Harbour", "Riverside", "Old Town", "Ring Road",
             "Market Square", "Central Station", "Industrial Park", "Stadium", "Hillside",
             "Lakeside", "Bridge Street", "High School", "Green Park", "Main Street", "Hospital",
             "Fire Station", "Water Works", "Botanical Garden", "Bus Depot", "Library")

# Probability that a (non-forced) station measures a parameter.
_PARAM_SHARE = {"pm25": 0.55, "pm10": 0.45, "so2": 0.2, "co": 0.2, "bc": 0.05,
                "no": 0.05, "nox": 0.04, "pm1": 0.03}
_LOW_GASES = ("no2", "so2", "no", "nox")  # near zero at times: deliberate small negatives
_SOUTH_BOOST = 8.0  # ppb: January is summer in the southern hemisphere


@dataclass
class _Station:
    index: int
    country: int
    city: str
    name: str
    new_name: str | None  # renamed station: name used from the rename time on
    lat: float
    lon: float
    offset_h: int  # fixed UTC offset of date.local
    sends_coords: bool
    mobile: bool
    lag: float  # seconds between end of averaging period and availability
    params: dict[str, tuple[str, float]]  # parameter -> (unit, averaging hours)
    model: dict[str, float]  # signal parameters (ppb or µg/m³)


def _build_stations(seed: int, n: int) -> list[_Station]:
    """Station i depends only on (seed, i) and the names taken by stations < i."""
    cities = [(ci, c) for ci, country in enumerate(COUNTRIES) for c in country.cities]
    # The first stations visit every city once, so forced features land in distinct cities.
    order = np.random.default_rng([seed, _S_CITY_ORDER]).permutation(len(cities))
    taken: set[tuple[str, str]] = set()
    stations = []
    for i in range(n):
        rng = np.random.default_rng([seed, _S_STATION, i])
        pick = int(rng.integers(len(cities)))
        ci, (city, clat, clon) = cities[int(order[i]) if i < len(cities) else pick]
        country = COUNTRIES[ci]

        mobile = i == 5 or (i > 5 and rng.random() < 0.003)
        shared = i in (1, 2) or rng.random() < 0.08
        name = "Centro" if i in (1, 2) else SHARED_NAMES[int(rng.integers(len(SHARED_NAMES)))]
        if mobile:
            name = f"{city} Mobile Lab {i}"
        elif not shared or (city, name) in taken:
            base = f"{city} {DISTRICTS[int(rng.integers(len(DISTRICTS)))]}"
            name, k = base, 2
            while (city, name) in taken:
                name, k = f"{base} {k}", k + 1
        taken.add((city, name))
        new_name = f"{name} Monitoring Site" if i == 3 else None

        lat = round(clat + rng.normal(0, 0.05), 6)
        lon = round(clon + rng.normal(0, 0.05) / math.cos(math.radians(clat)), 6)
        sends_coords = i != 4 and (i < 6 or rng.random() > 0.015)
        quarter_hourly = i == 2 or (i >= 6 and rng.random() < 0.15)
        urban = rng.random() < 0.7

        has = {p: rng.random() < s for p, s in _PARAM_SHARE.items()}
        has["o3"] = i < 4 or rng.random() < 0.75
        has["no2"] = i == 0 or rng.random() < (0.7 if has["o3"] else 0.6)
        if not any(has.values()):
            has["o3"] = True

        params: dict[str, tuple[str, float]] = {}
        for p in PARAMETERS:
            u_unit, u_avg = rng.random(), rng.random()  # always drawn: stable streams
            if not has[p]:
                continue
            if p.startswith("pm") or p == "bc":
                unit = UG
            elif p == "o3":
                unit = {0: UG, 1: "ppm"}.get(i, country.gas_unit)
            elif p == "co":
                unit = "ppm" if country.gas_unit == "ppm" or u_unit < 0.4 else UG
            else:
                unit = "ppb" if u_unit < 0.1 else country.gas_unit
            hours = 0.25 if quarter_hourly else 1.0
            if not quarter_hourly and p in ("pm25", "pm10") and i >= 6 and u_avg < 0.1:
                hours = 24.0  # some PM monitors only report daily means
            params[p] = (unit, hours)

        south = _SOUTH_BOOST if clat < 0 else 0.0
        heavy = 2.5 if country.code in ("IN", "CN") else 1.0
        model = {
            "o3_base": rng.uniform(22, 34) + south - (5.0 if urban else 0.0),
            "o3_amp": rng.uniform(7, 14) + south / 2,
            "no2_base": rng.uniform(12, 28) if urban else rng.uniform(3, 9),
            "no_base": rng.uniform(2, 12) if urban else rng.uniform(0.5, 3),
            "so2_base": rng.uniform(0.8, 5) * heavy,
            "co_base": rng.uniform(200, 600) * heavy,
            "pm_base": rng.uniform(8, 30) * heavy,
        }
        stations.append(_Station(
            index=i, country=ci, city=city, name=name, new_name=new_name, lat=lat, lon=lon,
            offset_h=int(round(lon / 15)), sends_coords=sends_coords, mobile=mobile,
            lag=float(rng.uniform(300, 5400)), params=params, model=model))
    return stations


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _coords_json(lat: float, lon: float) -> str:
    return f',"coordinates":{{"latitude":{lat:.6f},"longitude":{lon:.6f}}}'


class _Network:
    """Stations, their (station, parameter) series and the JSON fragments of every line."""

    def __init__(self, seed: int, n_stations: int):
        self.seed = seed
        self.stations = _build_stations(seed, n_stations)
        st, par, unit, dt, factor, dec = [], [], [], [], [], []
        self.heads: list[str] = []  # 2 per series: [current name, renamed]
        self.tails: list[str] = []  # 4 per series: [has_avg * 2 + has_coords]
        self.mobile_tails: dict[int, tuple[str, str, str]] = {}  # series -> (pre, avg, post)
        for s in self.stations:
            country = COUNTRIES[s.country]
            for p, (u, hours) in s.params.items():
                series = len(st)
                st.append(s.index)
                par.append(PARAMETERS.index(p))
                unit.append(u)
                dt.append(int(hours * 3600))
                conv = {"ppm": 1e-3, "ppb": 1.0}.get(u, UG_PER_PPB.get(p, 1.0))
                factor.append(conv)
                dec.append(3 if u == "ppm" else 2 if p == "bc" else 1)
                for name in (s.name, s.new_name or s.name):
                    self.heads.append(f'"parameter":"{p}","location":{_dumps(name)},"value":')
                pre = f',"unit":"{u}","city":{_dumps(s.city)},"attribution":' + _dumps(
                    [{"name": n, "url": url} for n, url in country.attribution])
                avg = f',"averagingPeriod":{{"value":{hours:g},"unit":"hours"}}'
                post = (f',"country":"{country.code}","sourceName":'
                        + _dumps("Mobile Monitoring Campaign" if s.mobile else country.source_name)
                        + f',"sourceType":"{"research" if s.mobile else country.source_type}"'
                        + f',"mobile":{"true" if s.mobile else "false"}}}')
                for has_avg in (False, True):
                    for has_coords in (False, True):
                        coords = _coords_json(s.lat, s.lon) if has_coords else ""
                        self.tails.append(pre + (avg if has_avg else "") + coords + post)
                if s.mobile:
                    self.mobile_tails[series] = (pre, avg, post)
        self.series_station = np.array(st, dtype=np.int64)
        self.series_param = np.array(par, dtype=np.int64)
        self.series_unit = unit
        self.series_dt = np.array(dt, dtype=np.int64)
        self.series_factor = np.array(factor)
        self.series_dec = np.array(dec, dtype=np.int64)
        # Station arrays for vectorised signal evaluation.
        self.offset_h = np.array([s.offset_h for s in self.stations], dtype=np.int64)
        self.region = np.array([s.country for s in self.stations], dtype=np.int64)
        self.lag = np.array([s.lag for s in self.stations])
        self.sends_coords = np.array([s.sends_coords for s in self.stations])
        self.mobile = np.array([s.mobile for s in self.stations])
        self.model = {k: np.array([s.model[k] for s in self.stations]) for k in self.stations[0].model}
        self.renamed = np.array([s.new_name is not None for s in self.stations])
        self.lat = np.array([s.lat for s in self.stations])
        self.lon = np.array([s.lon for s in self.stations])
        # Regional weather: per country two fields (photochemistry, stagnation) x 3 sinusoids.
        self.w_period = np.empty((len(COUNTRIES), 2, 3))
        self.w_amp = np.empty((len(COUNTRIES), 2, 3))
        self.w_phase = np.empty((len(COUNTRIES), 2, 3))
        for r in range(len(COUNTRIES)):
            rng = np.random.default_rng([seed, _S_WEATHER, r])
            self.w_period[r] = rng.uniform(2, 10, (2, 3)) * DAY
            amp = rng.uniform(0.5, 1.0, (2, 3))
            self.w_amp[r] = amp / np.sqrt((amp**2).sum(axis=1, keepdims=True) / 2)  # unit std
            self.w_phase[r] = rng.uniform(0, 2 * np.pi, (2, 3))

    def weather(self, region: np.ndarray, t: np.ndarray, f: int) -> np.ndarray:
        """Smooth, unit-variance anomaly of absolute time t (seconds), shape of t."""
        per = self.w_period[region, f][:, None, :]
        amp = self.w_amp[region, f][:, None, :]
        pha = self.w_phase[region, f][:, None, :]
        return (amp * np.sin(2 * np.pi * t[..., None] / per + pha)).sum(axis=-1)


# --------------------------------------------------------------------------- signals


def _diurnal_o3(h):
    # Peak mid-afternoon, minimum in the early morning (local time).
    x = 2 * np.pi * (h - 15) / 24
    return 0.8 * np.cos(x) + 0.25 * np.cos(2 * x)


def _rush(h):
    # Traffic emissions: morning and evening rush hours around a night-time base.
    return 0.55 + 0.6 * np.exp(-(((h - 8) / 1.6) ** 2)) + 0.5 * np.exp(-(((h - 18.5) / 2.2) ** 2))


def _clean_signal(p: str, m: dict, h, w1, w2):
    """Noise-free value in ppb (gases) or µg/m³ (PM, bc). m: station model arrays (S, 1)."""
    rush = _rush(h)
    no2 = m["no2_base"] * rush * (1 - 0.2 * w1) * (1 + 0.15 * w2)
    no = m["no_base"] * rush**2 * (1 + 0.2 * w2)
    pm = m["pm_base"] * np.exp(0.3 * w2) * (0.85 + 0.3 * np.exp(-(((h - 20) / 3) ** 2)))
    if p == "o3":  # photochemistry + regional weather, minus titration by local NO
        return m["o3_base"] + m["o3_amp"] * _diurnal_o3(h) + 7 * w1 - 0.3 * m["no2_base"] * (rush - 1)
    return {
        "no2": no2, "no": no, "nox": no2 + no,
        "so2": m["so2_base"] * (1 + 0.25 * w2),
        "co": m["co_base"] * rush * (1 + 0.2 * w2),
        "pm25": pm, "pm10": 1.6 * pm, "pm1": 0.65 * pm, "bc": 0.07 * pm,
    }[p]


# Per-parameter AR(1) noise: (std relative to station base or absolute, hourly phi).
_NOISE = {"o3": (2.5, 0.8), "no2": (0.15, 0.7), "no": (0.2, 0.6), "nox": (0.15, 0.7),
          "so2": (0.25, 0.7), "co": (0.1, 0.7), "pm25": (0.12, 0.8), "pm10": (0.15, 0.8),
          "pm1": (0.12, 0.8), "bc": (0.15, 0.7)}
_BASE_KEY = {"no2": "no2_base", "no": "no_base", "nox": "no2_base", "so2": "so2_base",
             "co": "co_base", "pm25": "pm_base", "pm10": "pm_base", "pm1": "pm_base", "bc": "pm_base"}
_PM_SCALE = {"pm25": 1.0, "pm10": 1.6, "pm1": 0.65, "bc": 0.07}


@dataclass
class _MeasDay:
    """All measurements whose end time falls into one UTC day, and where they get published."""

    series: np.ndarray
    t: np.ndarray  # end of averaging period, unix seconds
    value: np.ndarray  # rounded, in the series unit
    no_coords: np.ndarray
    no_avg: np.ndarray
    dlat: np.ndarray  # position jitter, used by mobile stations only
    dlon: np.ndarray
    app_obj: np.ndarray  # appearance -> object index on the timeline of days M, M+1, M+2
    app_meas: np.ndarray  # appearance -> measurement index


class _Generator:
    def __init__(self, seed, stations, objects_per_day, naming, republish, broken_share, rename_at):
        self.seed = seed
        self.net = _Network(seed, stations)
        self.n_obj = objects_per_day
        self.naming = naming
        self.republish = republish
        self.broken_share = broken_share
        self.rename_at = rename_at
        self._meas: dict[int, _MeasDay] = {}
        self._objs: dict[int, tuple] = {}
        # Groups of series evaluated together: same parameter and averaging period.
        keys = self.net.series_param * 10**6 + self.net.series_dt
        self.groups = [np.flatnonzero(keys == k) for k in np.unique(keys)]

    # -- objects of a fetch day ------------------------------------------------------

    def objects(self, day: date):
        """(publish times, newer-style flags, suffixes) of the day's objects."""
        o = day.toordinal()
        if o not in self._objs:
            n = self.n_obj
            rng = np.random.default_rng([self.seed, _S_OBJECTS, o])
            step = DAY / n
            jitter = rng.integers(0, int(step * 0.3) + 1, n)  # < step: names stay unique
            times = _day_start(day) + np.floor(np.arange(n) * step).astype(np.int64) + jitter
            u = rng.random(n)
            raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
            suffix = [f"{b[:4].hex()}-{b[4:6].hex()}-{b[6:8].hex()}-{b[8:10].hex()}-{b[10:].hex()}"
                      for b in (bytes(r) for r in raw)]
            if self.naming == "legacy":
                newer = np.zeros(n, bool)
            elif self.naming == "suffixed":
                newer = np.ones(n, bool)
            else:  # mixed, with both styles present whenever there are 2+ objects
                newer = u < SUFFIXED_SHARE
                if n >= 2 and not newer.any():
                    newer[np.argmin(u)] = True
                if n >= 2 and newer.all():
                    newer[np.argmax(u)] = False
            self._objs[o] = (times, newer, suffix)
        return self._objs[o]

    # -- measurements of a measurement day ------------------------------------------

    def measurements(self, day: date) -> _MeasDay:
        o = day.toordinal()
        if o not in self._meas:
            self._meas[o] = self._measure(day)
            for k in [k for k in self._meas if k < o - 2]:  # only M-2..M are ever needed
                del self._meas[k]
        return self._meas[o]

    def _measure(self, day: date) -> _MeasDay:
        net, n_obj = self.net, self.n_obj
        start = _day_start(day)
        gap_max = max(1, min(4, n_obj // 3))  # republished within ~2 hours at 144/day
        parts = []
        for sidx in self.groups:
            pi, dt = int(net.series_param[sidx[0]]), int(net.series_dt[sidx[0]])
            p = PARAMETERS[pi]
            # One stream per (day, parameter, period): identical whichever fetch day needs it.
            rng = np.random.default_rng([self.seed, _S_MEASURE, day.toordinal(), pi, dt])
            st = net.series_station[sidx]
            steps = DAY // dt
            t = start + np.arange(steps, dtype=np.int64) * dt  # period ends inside the day
            tm = (t - dt / 2)[None, :] + np.zeros((len(sidx), 1))
            h = ((tm + net.offset_h[st][:, None] * 3600) % DAY) / 3600
            w1 = net.weather(net.region[st], tm, 0)
            w2 = net.weather(net.region[st], tm, 1)
            m = {k: v[st][:, None] for k, v in net.model.items()}
            clean = _clean_signal(p, m, h, w1, w2)

            # AR(1) noise in the native resolution; starts stationary every day.
            sd, phi_h = _NOISE[p]
            if p != "o3":
                sd = sd * m[_BASE_KEY[p]] * _PM_SCALE.get(p, 1.0)
            phi = phi_h ** (dt / 3600) if dt < DAY else 0.0
            eps = rng.standard_normal((len(sidx), steps))
            noise = np.empty_like(eps)
            noise[:, 0] = eps[:, 0]
            for j in range(1, steps):
                noise[:, j] = phi * noise[:, j - 1] + math.sqrt(1 - phi * phi) * eps[:, j]
            val = np.maximum(clean + sd * noise, 0.0)

            neg_u, neg_v = rng.random(val.shape), rng.uniform(1, 3, val.shape)
            if p in _LOW_GASES:  # instrument noise around zero: small negative readings
                val = np.where(neg_u < 0.005, -neg_v, val)
            scale = 10.0 ** net.series_dec[sidx][:, None]
            val = np.round(val * net.series_factor[sidx][:, None] * scale) / scale + 0.0

            shape = val.shape
            no_coords = (rng.random(shape) < 0.01) | ~net.sends_coords[st][:, None]
            no_avg = rng.random(shape) < 0.01
            avail = t[None, :] + net.lag[st][:, None] + rng.uniform(0, 1800, shape)
            rep = rng.random(shape) < self.republish
            n_rep = np.where(rep, rng.integers(1, 4, shape), 0)
            gaps = rng.integers(1, gap_max + 1, shape + (3,))
            dlat, dlon = rng.normal(0, 0.01, shape), rng.normal(0, 0.01, shape)
            parts.append(dict(
                series=np.repeat(sidx, steps), t=np.tile(t, len(sidx)), value=val.ravel(),
                no_coords=no_coords.ravel(), no_avg=no_avg.ravel(), avail=avail.ravel(),
                n_rep=n_rep.ravel(), gaps=gaps.reshape(-1, 3), dlat=dlat.ravel(), dlon=dlon.ravel()))
        cat = {k: np.concatenate([q[k] for q in parts]) for k in parts[0]}

        # First object published at/after availability, then 1-3 later objects.
        timeline = np.concatenate([self.objects(day + timedelta(d))[0] for d in range(3)])
        first = np.searchsorted(timeline, cat["avail"], side="left")
        offsets = np.cumsum(cat["gaps"], axis=1)
        n = len(first)
        objs, meas = [first], [np.arange(n)]
        for j in range(3):
            sel = np.flatnonzero(cat["n_rep"] > j)
            objs.append(first[sel] + offsets[sel, j])
            meas.append(sel)
        app_obj, app_meas = np.concatenate(objs), np.concatenate(meas)
        keep = app_obj < len(timeline)
        return _MeasDay(series=cat["series"], t=cat["t"], value=cat["value"],
                        no_coords=cat["no_coords"], no_avg=cat["no_avg"], dlat=cat["dlat"],
                        dlon=cat["dlon"], app_obj=app_obj[keep], app_meas=app_meas[keep])

    # -- lines of a fetch day ---------------------------------------------------------

    def day_lines(self, day: date) -> tuple[list[str], np.ndarray, tuple]:
        """All lines of the day's objects in object order, the line count per object, and
        the fragments of every line (for fault injection)."""
        net, n_obj = self.net, self.n_obj
        cols: dict[str, list] = {k: [] for k in ("obj", "series", "t", "value", "no_coords",
                                                 "no_avg", "dlat", "dlon")}
        for back in (2, 1, 0):
            md = self.measurements(day - timedelta(back))
            sel = md.app_obj // n_obj == back
            mi = md.app_meas[sel]
            cols["obj"].append(md.app_obj[sel] % n_obj)
            for k in ("series", "t", "value", "no_coords", "no_avg", "dlat", "dlon"):
                cols[k].append(getattr(md, k)[mi])
        c = {k: np.concatenate(v) for k, v in cols.items()}
        order = np.lexsort((c["t"], c["series"], c["obj"]))
        c = {k: v[order] for k, v in c.items()}
        st = net.series_station[c["series"]]

        # date fragments: one string per distinct (time, UTC offset)
        off = net.offset_h[st]
        key = c["t"] * 64 + (off + 32)
        uniq, inv = np.unique(key, return_inverse=True)
        date_strs = np.array([_date_json(int(k // 64), int(k % 64) - 32) for k in uniq], dtype=object)
        dates = date_strs[inv].tolist()

        renamed = net.renamed[st] & (c["t"] >= self.rename_at)
        heads = np.array(net.heads, dtype=object)[c["series"] * 2 + renamed].tolist()
        tails = np.array(net.tails, dtype=object)[
            c["series"] * 4 + (~c["no_avg"]) * 2 + (~c["no_coords"])].tolist()
        values = list(map(repr, c["value"].tolist()))  # shortest round-trip float, as json.dumps
        lines = [a + b + v + d for a, b, v, d in zip(dates, heads, values, tails)]

        for i in np.flatnonzero(net.mobile[st]).tolist():  # moving position per record
            s = int(c["series"][i])
            pre, avg, post = net.mobile_tails[s]
            coords = "" if c["no_coords"][i] else _coords_json(
                net.lat[st[i]] + c["dlat"][i], net.lon[st[i]] + c["dlon"][i])
            avg = "" if c["no_avg"][i] else avg
            lines[i] = dates[i] + heads[i] + values[i] + pre + avg + coords + post
        parts = (dates, heads, values, c["series"])
        return lines, np.bincount(c["obj"], minlength=n_obj), parts

    def break_lines(self, day: date, lines: list[str], parts: tuple, rng) -> int:
        """Replace a small share of lines by broken ones; returns how many."""
        if not lines or self.broken_share <= 0:
            return 0
        dates, heads, values, series = parts
        n_bad = max(1, int(rng.binomial(len(lines), self.broken_share)))
        n_bad = min(n_bad, len(lines))
        where = np.sort(rng.choice(len(lines), n_bad, replace=False))
        first_kind = day.toordinal() % len(BROKEN_KINDS)  # rotate so runs see every kind
        for j, i in enumerate(where.tolist()):
            kind = BROKEN_KINDS[(first_kind + j) % len(BROKEN_KINDS)]
            line = lines[i]
            head = dates[i] + heads[i]
            tail = line[len(head) + len(values[i]):]
            if kind == "cut":  # upload interrupted mid-line: invalid JSON
                lines[i] = line[: len(line) // 2]
            elif kind == "string_value":
                lines[i] = head + '"n/a"' + tail
            elif kind == "nan_value":  # what Python's json.dumps emits for float('nan')
                lines[i] = head + "NaN" + tail
            elif kind == "unknown_unit":
                unit = self.net.series_unit[int(series[i])]
                lines[i] = head + values[i] + tail.replace(f'"unit":"{unit}"', '"unit":"mg/m³"', 1)
            else:  # sentinel / absurd values
                lines[i] = head + ("99999" if rng.random() < 0.5 else "-999") + tail
        return n_bad


def _day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def _date_json(t: int, offset_h: int) -> str:
    utc = datetime.fromtimestamp(t, timezone.utc)
    local = utc.astimezone(timezone(timedelta(hours=offset_h)))
    return (f'{{"date":{{"utc":"{utc:%Y-%m-%dT%H:%M:%S}.000Z",'
            f'"local":"{local.isoformat(timespec="seconds")}"}},')


# --------------------------------------------------------------------------- writing


@dataclass
class BucketSummary:
    """What generate_bucket wrote. keys are paths relative to ``out`` (``YYYY-MM-DD/name``)."""

    days: int = 0
    objects: int = 0  # data objects (*.ndjson / *.ndjson.gz), truncated ones included
    records: int = 0  # lines written into data objects, broken ones included
    bytes: int = 0  # bytes on disk of all files written (compressed size for .gz)
    raw_bytes: int = 0  # uncompressed ndjson bytes of the data objects
    broken_lines: int = 0
    truncated_objects: int = 0
    odd_files: int = 0  # files in day folders that are not data objects
    keys: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"days={self.days} objects={self.objects} records={self.records} "
                f"bytes={self.bytes} raw_bytes={self.raw_bytes} broken_lines={self.broken_lines} "
                f"truncated_objects={self.truncated_objects} odd_files={self.odd_files}")


def _write(path: Path, payload: bytes, gz: bool, truncate: bool) -> int:
    if gz:
        # mtime=0 and no file name in the header: identical bytes on every run.
        payload = gzip.compress(payload, compresslevel=GZIP_LEVEL, mtime=0)
        if truncate:  # cut the compressed stream in half: a truncated gzip object
            payload = payload[: len(payload) // 2]
    tmp = path.with_name(f".{path.name}.partial")  # readers never see half-written objects
    tmp.write_bytes(payload)
    os.replace(tmp, path)
    return len(payload)


def generate_bucket(out: Path | str, start: date, days: int, stations: int, seed: int, *,
                    objects_per_day: int = 144, naming: str = "mixed", republish: float = 0.3,
                    broken_share: float = 0.002, faults: bool = True) -> BucketSummary:
    """Write ``days`` fetch days of a synthetic openaq-fetches mirror below ``out``.

    If ``out`` exists, files with the same keys are overwritten and others are left alone;
    otherwise the bucket is written to a hidden sibling folder and renamed when complete.
    The renamed station changes its name 12 hours after ``start`` (UTC), so every run,
    however short, contains both names.
    Stations 0-5 carry the features every run must show (o3 in µg/m³ and in ppm, a shared
    location name, 15-minute data, the rename, no coordinates, a mobile source), so use at
    least 6 stations when those matter.
    """
    if days < 1 or stations < 1:
        raise ValueError("days and stations must be >= 1")
    if not 1 <= objects_per_day <= 8640:
        raise ValueError("objects_per_day must be between 1 and 8640")
    if naming not in ("legacy", "suffixed", "mixed"):
        raise ValueError("naming must be legacy, suffixed or mixed")
    if not 0 <= republish <= 1 or not 0 <= broken_share <= 0.5:
        raise ValueError("republish must be in [0, 1] and broken_share in [0, 0.5]")
    final = Path(out)
    # A new mirror is built next to its final place and renamed at the end, so an interrupted
    # run never leaves a half-written bucket that looks complete. An existing one is updated.
    out = final if final.exists() else final.with_name(f".{final.name}.partial")
    if out != final and out.exists():
        shutil.rmtree(out)  # leftover of an interrupted run of ours
    gen = _Generator(seed, stations, objects_per_day, naming, republish,
                     broken_share if faults else 0.0, _day_start(start) + DAY // 2)
    summary = BucketSummary(days=days)
    workers = max(1, min(4, os.cpu_count() or 1))
    pending: list[tuple[str, Future]] = []
    sizes: dict[str, int] = {}

    def submit(key: str, payload: bytes, gz: bool, truncate: bool = False) -> None:
        pending.append((key, pool.submit(_write, out / key, payload, gz, truncate)))
        while len(pending) > 2 * workers:  # bound memory held by queued payloads
            k, fut = pending.pop(0)
            sizes[k] = fut.result()

    with ThreadPoolExecutor(workers) as pool:
        for d in range(days):
            day = start + timedelta(d)
            folder = day.isoformat()
            (out / folder).mkdir(parents=True, exist_ok=True)
            times, newer, suffix = gen.objects(day)
            lines, counts, parts = gen.day_lines(day)
            rng = np.random.default_rng([seed, _S_FAULTS, day.toordinal()])
            if faults:
                summary.broken_lines += gen.break_lines(day, lines, parts, rng)
            truncated = -1
            legacy = np.flatnonzero(~newer)
            if faults and day.toordinal() % TRUNCATE_EVERY == 0 and len(legacy):
                truncated = int(legacy[rng.integers(len(legacy))])
            bounds = np.concatenate([[0], np.cumsum(counts)])
            odd_obj = int(rng.integers(len(times)))
            for k in range(len(times)):
                text = "".join(line + "\n" for line in lines[bounds[k]:bounds[k + 1]])
                payload = text.encode("utf-8")
                name = f"{times[k]}_{suffix[k]}.ndjson" if newer[k] else f"{times[k]}.ndjson.gz"
                submit(f"{folder}/{name}", payload, not newer[k], k == truncated)
                summary.raw_bytes += len(payload)
                if faults and k == odd_obj:
                    if day.toordinal() % 2 == 0:  # an upload that was never finished/renamed
                        submit(f"{folder}/{times[k] + 1}.ndjson.tmp", payload[: len(payload) // 3], False)
                    else:
                        submit(f"{folder}/README.txt", _README.format(day=folder).encode(), False)
                    summary.odd_files += 1
            summary.objects += len(times)
            summary.records += len(lines)
            summary.truncated_objects += truncated >= 0
            del lines, parts  # free this day's text before building the next one
        for k, fut in pending:
            sizes[k] = fut.result()
    if out != final:
        os.replace(out, final)
    summary.keys = sorted(sizes)
    summary.bytes = sum(sizes.values())
    return summary


_README = ("Synthetic mirror of s3://openaq-fetches/realtime/{day}/ generated by "
           "toar_assets.sample_bucket.\nThis file is not an OpenAQ object.\n")


# --------------------------------------------------------------------------- CLI

_DESCRIPTION = """\
Generate a deterministic local mirror of the OpenAQ v1 "realtime" bucket (openaq-fetches).

Output below --out:
  YYYY-MM-DD/<unix>.ndjson.gz        legacy objects, gzip (mtime 0, no file name)
  YYYY-MM-DD/<unix>_<suffix>.ndjson  newer objects, plain text
The folder is the UTC fetch day; <unix> is the object's publish time inside that day.
Each line is one OpenAQ measurement: date{utc,local}, parameter, location, value, unit,
city, attribution, averagingPeriod (optional), coordinates (optional), country,
sourceName, sourceType, mobile. date.utc is the END of the averaging period.

Parameters pm25 pm10 no2 so2 o3 co bc (+ a few no nox pm1); units µg/m³, ppm, ppb;
averaging 1 h, 0.25 h and (some PM) 24 h. Realism on purpose: shared location names in
different cities, one station renamed 12 h after --start, records without coordinates or
averagingPeriod, small negative values for low gases, re-published duplicates, a mobile
source, data of the previous day near midnight.

Faults (unless --no-faults): a share of broken lines (cut JSON, "n/a" or NaN values, unit
mg/m³, values 99999/-999), a truncated gzip object every third day, and one file per day
folder that is not an object (<unix>.ndjson.tmp or README.txt).

Same arguments give byte-identical files, and a day's files do not depend on --days.
"""


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sample_data.generator", description=_DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="output directory (bucket root); created if missing")
    ap.add_argument("--start", type=_parse_date, default=date(2014, 1, 1),
                    help="first UTC fetch day, YYYY-MM-DD (default: 2014-01-01)")
    ap.add_argument("--days", type=int, default=10, help="number of fetch days to write (default: 10)")
    ap.add_argument("--stations", type=int, default=30,
                    help="number of monitoring stations; 3000 gives ~500k records/day (default: 30)")
    ap.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default: 0)")
    ap.add_argument("--objects-per-day", type=int, default=144,
                    help="objects published per day, evenly spaced with jitter (default: 144 = every 10 min)")
    ap.add_argument("--naming", choices=("legacy", "suffixed", "mixed"), default="mixed",
                    help="object names: legacy <unix>.ndjson.gz, suffixed <unix>_<suffix>.ndjson, "
                         "or mixed (~1 in 6 suffixed) (default: mixed)")
    ap.add_argument("--republish", type=float, default=0.3,
                    help="probability that a measurement is re-published in 1-3 later objects (default: 0.3)")
    ap.add_argument("--broken-share", type=float, default=0.002,
                    help="share of broken lines per day, at least one per day if > 0 (default: 0.002)")
    ap.add_argument("--no-faults", action="store_true",
                    help="write clean input: no broken lines, no truncated gzip, no odd file names")
    a = ap.parse_args(argv)
    try:
        summary = generate_bucket(a.out, a.start, a.days, a.stations, a.seed,
                                  objects_per_day=a.objects_per_day, naming=a.naming,
                                  republish=a.republish, broken_share=a.broken_share,
                                  faults=not a.no_faults)
    except ValueError as e:
        ap.error(str(e))
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
