"""The monitoring network: countries, cities, stations and the series they measure.

A series is one parameter at one station, in the unit and averaging period of that station's
instrument. Station ``i`` depends only on (seed, i) and the location names taken by stations
before it, so adding stations never changes the first ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from domain.vocabulary import UG_M3_PER_PPB
from sample_data.randomness import Stream, random_stream

PARAMETERS = ("pm25", "pm10", "no2", "so2", "o3", "co", "bc", "no", "nox", "pm1")
UG_M3 = "µg/m³"  # U+00B5 micro sign, exactly as OpenAQ spells it
UNITS = (UG_M3, "ppm", "ppb")
# µg/m³ per ppb, the same 20 °C factors harmonization divides by (NOx is expressed as NO2).
UG_PER_PPB = {**UG_M3_PER_PPB, "nox": UG_M3_PER_PPB["no2"]}


@dataclass(frozen=True)
class Country:
    code: str
    source_name: str
    attribution: tuple[tuple[str, str], ...]  # (name, url)
    gas_unit: str  # the unit the national network uses for gases
    cities: tuple[tuple[str, float, float], ...]  # (name, latitude, longitude)
    source_type: str = "government"


# fmt: off
COUNTRIES: tuple[Country, ...] = (
    Country("DE", "Umweltbundesamt",
            (("Umweltbundesamt", "http://www.umweltbundesamt.de/en/data/current-concentrations-of-air-pollutants-in-germany"),),
            UG_M3, (("Berlin", 52.520008, 13.404954), ("Hamburg", 53.551086, 9.993682),
                    ("München", 48.137154, 11.576124), ("Köln", 50.937531, 6.960279),
                    ("Frankfurt am Main", 50.110924, 8.682127))),
    Country("FR", "EEA France",
            (("EEA", "http://www.eea.europa.eu/themes/air/air-quality/map/real-time-map"),),
            UG_M3, (("Paris", 48.856613, 2.352222), ("Lyon", 45.764043, 4.835659),
                    ("Marseille", 43.296482, 5.369780), ("Toulouse", 43.604652, 1.444209))),
    Country("ES", "EEA Spain",
            (("EEA", "http://www.eea.europa.eu/themes/air/air-quality/map/real-time-map"),),
            UG_M3, (("Madrid", 40.416775, -3.703790), ("Barcelona", 41.385064, 2.173404),
                    ("Sevilla", 37.389092, -5.984459), ("Valencia", 39.469907, -0.376288))),
    Country("GB", "DEFRA",
            (("Department for Environment, Food & Rural Affairs", "http://uk-air.defra.gov.uk/latest/currentlevels"),),
            UG_M3, (("London", 51.507351, -0.127758), ("Manchester", 53.480759, -2.242631),
                    ("Birmingham", 52.486243, -1.890401), ("Glasgow", 55.864237, -4.251806))),
    Country("NL", "Netherlands",
            (("RIVM - Landelijk Meetnet Luchtkwaliteit", "http://www.lml.rivm.nl/tabel/"),),
            UG_M3, (("Amsterdam", 52.370216, 4.895168), ("Rotterdam", 51.924420, 4.477733),
                    ("Utrecht", 52.090737, 5.121420))),
    Country("PL", "GIOS",
            (("Główny Inspektorat Ochrony Środowiska", "http://powietrze.gios.gov.pl/pjp/current"),),
            UG_M3, (("Warszawa", 52.229676, 21.012229), ("Kraków", 50.064650, 19.944980),
                    ("Wrocław", 51.107885, 17.038538))),
    Country("US", "AirNow",
            (("US EPA AirNow", "http://www.airnow.gov/"), ("Local air quality agency", "http://www.airnow.gov/index.cfm?action=airnow.partnerslist")),
            "ppm", (("Los Angeles-Long Beach-Santa Ana", 34.052235, -118.243683),
                    ("New York-Northern New Jersey-Long Island", 40.712776, -74.005974),
                    ("Chicago-Naperville-Joliet", 41.878113, -87.629799),
                    ("Houston-Sugar Land-Baytown", 29.760427, -95.369804),
                    ("Denver-Aurora", 39.739236, -104.990251))),
    Country("CA", "AirNow",
            (("US EPA AirNow", "http://www.airnow.gov/"), ("Environment Canada", "http://www.ec.gc.ca/air/")),
            "ppm", (("Toronto", 43.653225, -79.383186), ("Montréal", 45.501690, -73.567253),
                    ("Vancouver", 49.282730, -123.120735))),
    Country("MX", "Sinaica",
            (("SINAICA", "http://sinaica.inecc.gob.mx/"),),
            "ppm", (("Ciudad de México", 19.432608, -99.133209), ("Guadalajara", 20.659698, -103.349609),
                    ("Monterrey", 25.686613, -100.316116))),
    Country("BR", "Sao Paulo",
            (("CETESB", "http://sistemasinter.cetesb.sp.gov.br/ar/php/mapa_qualidade_rmsp.php"),),
            UG_M3, (("São Paulo", -23.550520, -46.633308), ("Campinas", -22.907104, -47.063240),
                    ("Santos", -23.960833, -46.333611))),
    Country("CL", "Chile - SINCA",
            (("SINCA", "http://sinca.mma.gob.cl/"), ("CENMA", "http://www.cenma.cl")),
            "ppm", (("Santiago", -33.448890, -70.669265), ("Valparaíso", -33.047238, -71.612688),
                    ("Concepción", -36.827013, -73.050160))),
    Country("IN", "CPCB",
            (("Central Pollution Control Board", "http://www.cpcb.gov.in/CAAQM/frmUserAvgReportCriteria.aspx"),),
            UG_M3, (("Delhi", 28.704060, 77.102493), ("Mumbai", 19.075983, 72.877655),
                    ("Chennai", 13.082680, 80.270721), ("Kolkata", 22.572645, 88.363892))),
    Country("CN", "ChinaAQIData",
            (("China National Environmental Monitoring Centre", "http://113.108.142.147:20035/emcpublish/"),),
            UG_M3, (("Beijing", 39.904202, 116.407394), ("Shanghai", 31.230391, 121.473701),
                    ("Guangzhou", 23.129110, 113.264381))),
    Country("AU", "Australia - New South Wales",
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
# fmt: on

# The first stations carry the features every run must show, whatever the seed; stations from
# FEATURED_STATIONS on draw every feature at random.
FEATURED_O3_UNITS = {0: UG_M3, 1: "ppm"}  # station -> its o3 unit: both units in every run
OZONE_STATIONS = 4  # stations 0-3 measure o3, so both units, 15-minute data and the rename show in ozone
SHARED_NAME_STATIONS = (1, 2)  # both called "Centro", in different cities
QUARTER_HOURLY_STATION = 2
RENAMED_STATION = 3
STATION_WITHOUT_COORDINATES = 4
MOBILE_STATION = 5
FEATURED_STATIONS = 6

# Probability that a station measures a parameter (o3 and no2 are drawn apart).
PARAMETER_SHARE = {"pm25": 0.55, "pm10": 0.45, "so2": 0.2, "co": 0.2, "bc": 0.05, "no": 0.05, "nox": 0.04, "pm1": 0.03}
HEAVY_POLLUTION = {"IN": 2.5, "CN": 2.5}  # country -> factor on the levels of primary pollutants


class Instrument(NamedTuple):
    unit: str
    averaging_hours: float


@dataclass
class Station:
    index: int
    country_index: int  # into COUNTRIES; also the weather region
    city: str
    location: str  # OpenAQ's "location": the station name
    renamed_location: str | None  # the name used from the rename time on, if renamed
    latitude: float
    longitude: float
    utc_offset_hours: int  # fixed UTC offset of the local time in records
    sends_coordinates: bool
    mobile: bool
    publication_lag: float  # seconds between the end of an averaging period and availability
    instruments: dict[str, Instrument]  # parameter -> instrument, in PARAMETERS order
    levels: dict[str, float]  # typical concentrations: ppb for gases, µg/m³ for pm25


class Series(NamedTuple):
    station: Station
    parameter: str
    unit: str
    averaging_hours: float


def build_stations(seed: int, count: int) -> list[Station]:
    """``count`` stations; station i depends only on (seed, i) and the names taken before it."""
    cities = [(country_index, city) for country_index, country in enumerate(COUNTRIES) for city in country.cities]
    # The first stations visit every city once, so the featured stations land in distinct cities.
    city_order = random_stream(seed, Stream.CITY_ORDER).permutation(len(cities))
    taken: set[tuple[str, str]] = set()  # (city, location)
    return [_build_station(seed, index, cities, city_order, taken) for index in range(count)]


def _build_station(
    seed: int,
    index: int,
    cities: list[tuple[int, tuple[str, float, float]]],
    city_order: np.ndarray,
    taken: set[tuple[str, str]],
) -> Station:
    # The order of the draws below is part of the output.
    rng = random_stream(seed, Stream.STATION, index)
    random_city = int(rng.integers(len(cities)))  # always drawn: stable streams
    country_index, (city, city_latitude, city_longitude) = cities[
        int(city_order[index]) if index < len(cities) else random_city
    ]
    country = COUNTRIES[country_index]
    mobile = index == MOBILE_STATION or (index >= FEATURED_STATIONS and rng.random() < 0.003)
    location = _location_name(rng, index, city, mobile, taken)
    latitude = round(city_latitude + rng.normal(0, 0.05), 6)
    longitude = round(city_longitude + rng.normal(0, 0.05) / math.cos(math.radians(city_latitude)), 6)
    sends_coordinates = index != STATION_WITHOUT_COORDINATES and (index < FEATURED_STATIONS or rng.random() > 0.015)
    quarter_hourly = index == QUARTER_HOURLY_STATION or (index >= FEATURED_STATIONS and rng.random() < 0.15)
    urban = rng.random() < 0.7
    instruments = _instruments(rng, index, country, quarter_hourly)
    levels = _levels(rng, country, urban)
    return Station(
        index=index,
        country_index=country_index,
        city=city,
        location=location,
        renamed_location=f"{location} Monitoring Site" if index == RENAMED_STATION else None,
        latitude=latitude,
        longitude=longitude,
        utc_offset_hours=int(round(longitude / 15)),
        sends_coordinates=sends_coordinates,
        mobile=mobile,
        publication_lag=float(rng.uniform(300, 5400)),
        instruments=instruments,
        levels=levels,
    )


def _location_name(rng: np.random.Generator, index: int, city: str, mobile: bool, taken: set[tuple[str, str]]) -> str:
    """A name not yet taken in the city, often a shared one; adds it to ``taken``."""
    shared = index in SHARED_NAME_STATIONS or rng.random() < 0.08
    name = "Centro" if index in SHARED_NAME_STATIONS else SHARED_NAMES[int(rng.integers(len(SHARED_NAMES)))]
    if mobile:
        name = f"{city} Mobile Lab {index}"
    elif not shared or (city, name) in taken:
        district = f"{city} {DISTRICTS[int(rng.integers(len(DISTRICTS)))]}"
        name, number = district, 2
        while (city, name) in taken:
            name, number = f"{district} {number}", number + 1
    taken.add((city, name))
    return name


def _instruments(rng: np.random.Generator, index: int, country: Country, quarter_hourly: bool) -> dict[str, Instrument]:
    measures = {parameter: rng.random() < share for parameter, share in PARAMETER_SHARE.items()}
    measures["o3"] = index < OZONE_STATIONS or rng.random() < 0.75
    measures["no2"] = index == 0 or rng.random() < (0.7 if measures["o3"] else 0.6)
    if not any(measures.values()):
        measures["o3"] = True
    instruments = {}
    for parameter in PARAMETERS:
        unit_draw, daily_draw = rng.random(), rng.random()  # always drawn: stable streams
        if not measures[parameter]:
            continue
        if parameter.startswith("pm") or parameter == "bc":
            unit = UG_M3
        elif parameter == "o3":
            unit = FEATURED_O3_UNITS.get(index, country.gas_unit)
        elif parameter == "co":
            unit = "ppm" if country.gas_unit == "ppm" or unit_draw < 0.4 else UG_M3
        else:
            unit = "ppb" if unit_draw < 0.1 else country.gas_unit
        hours = 0.25 if quarter_hourly else 1.0
        if not quarter_hourly and parameter in ("pm25", "pm10") and index >= FEATURED_STATIONS and daily_draw < 0.1:
            hours = 24.0  # some PM monitors only report daily means
        instruments[parameter] = Instrument(unit, hours)
    return instruments


def _levels(rng: np.random.Generator, country: Country, urban: bool) -> dict[str, float]:
    heavy = HEAVY_POLLUTION.get(country.code, 1.0)
    return {
        # The annual means: the season is the concentration model's (sample_data.concentrations).
        "o3": rng.uniform(22, 34) - (5.0 if urban else 0.0),  # less o3 where NO titrates it
        "o3_diurnal_amplitude": rng.uniform(7, 14),
        "no2": rng.uniform(12, 28) if urban else rng.uniform(3, 9),
        "no": rng.uniform(2, 12) if urban else rng.uniform(0.5, 3),
        "so2": rng.uniform(0.8, 5) * heavy,
        "co": rng.uniform(200, 600) * heavy,
        "pm25": rng.uniform(8, 30) * heavy,
    }


def unit_factor(parameter: str, unit: str) -> float:
    """From the model's unit (ppb for gases, µg/m³ for particles) to ``unit``."""
    return {"ppm": 1e-3, "ppb": 1.0}.get(unit, UG_PER_PPB.get(parameter, 1.0))


def reported_decimals(parameter: str, unit: str) -> int:
    """The decimals a value of ``parameter`` in ``unit`` is reported with."""
    return 3 if unit == "ppm" else 2 if parameter == "bc" else 1


class Network:
    """The stations and their series, with per-station and per-series arrays for vectorised use."""

    def __init__(self, seed: int, station_count: int):
        self.stations = build_stations(seed, station_count)
        self.series = [
            Series(station, parameter, *instrument)
            for station in self.stations
            for parameter, instrument in station.instruments.items()
        ]

        # Per series, indexed by series number.
        self.series_station = np.array([s.station.index for s in self.series], dtype=np.int64)
        self.series_parameter = np.array([PARAMETERS.index(s.parameter) for s in self.series], dtype=np.int64)
        self.series_unit = [s.unit for s in self.series]
        self.series_period = np.array([int(s.averaging_hours * 3600) for s in self.series], dtype=np.int64)  # seconds
        self.series_unit_factor = np.array([unit_factor(s.parameter, s.unit) for s in self.series])
        self.series_decimals = np.array([reported_decimals(s.parameter, s.unit) for s in self.series], dtype=np.int64)
        # Series of one parameter and averaging period, which are simulated together.
        group_keys = self.series_parameter * 10**6 + self.series_period
        self.series_groups = [np.flatnonzero(group_keys == key) for key in np.unique(group_keys)]

        # Per station, indexed by station number.
        self.country_index = np.array([s.country_index for s in self.stations], dtype=np.int64)
        self.utc_offset_hours = np.array([s.utc_offset_hours for s in self.stations], dtype=np.int64)
        self.publication_lag = np.array([s.publication_lag for s in self.stations])
        self.sends_coordinates = np.array([s.sends_coordinates for s in self.stations])
        self.mobile = np.array([s.mobile for s in self.stations])
        self.renamed = np.array([s.renamed_location is not None for s in self.stations])
        self.latitude = np.array([s.latitude for s in self.stations])
        self.longitude = np.array([s.longitude for s in self.stations])
        self.levels = {name: np.array([s.levels[name] for s in self.stations]) for name in self.stations[0].levels}
