"""The archive's locations and their catalog (``locations.json``).

Location i stands at station i of the simulated network (``sample_data.network``), with its
coordinates, name and city, so the v1 mirror of the same seed shows the same station. Its
sensors are the station's series (their values come from the ``ConcentrationModel``), except
daily ones, plus temperature and relative humidity at some locations. A location depends only
on (seed, i) and the stations before it, so adding locations never changes the first ones.

The first FEATURED_LOCATIONS locations carry the habits every run must show; from there on
each habit is drawn at random.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sample_data.network import COUNTRIES, PARAMETERS, Network, Station
from sample_data.randomness import Stream, random_stream

# IANA time zones: by country, and by city where a country spans several zones.
COUNTRY_TIME_ZONES = {
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "ES": "Europe/Madrid",
    "GB": "Europe/London",
    "NL": "Europe/Amsterdam",
    "PL": "Europe/Warsaw",
    "BR": "America/Sao_Paulo",
    "CL": "America/Santiago",
    "IN": "Asia/Kolkata",
    "CN": "Asia/Shanghai",
    "AU": "Australia/Sydney",
}
CITY_TIME_ZONES = {
    "Los Angeles-Long Beach-Santa Ana": "America/Los_Angeles",
    "New York-Northern New Jersey-Long Island": "America/New_York",
    "Chicago-Naperville-Joliet": "America/Chicago",
    "Houston-Sugar Land-Baytown": "America/Chicago",
    "Denver-Aurora": "America/Denver",
    "Toronto": "America/Toronto",
    "Montréal": "America/Toronto",
    "Vancouver": "America/Vancouver",
    "Ciudad de México": "America/Mexico_City",
    "Guadalajara": "America/Mexico_City",
    "Monterrey": "America/Monterrey",
}
WEATHER_UNITS = {"temperature": "c", "relativehumidity": "%"}  # as OpenAQ v3 spells them
# A sensor's id is SENSOR_ID_BASE + location index * SENSOR_SLOTS + the slot of its parameter.
SENSOR_SLOTS = 16
SLOTS = {parameter: slot for slot, parameter in enumerate(PARAMETERS + tuple(WEATHER_UNITS))}
SENSOR_ID_BASE = 1_000_000
LOCATION_ID_BASE, SYSTEM_ID_BASE, ID_SPACING = 1000, 500_000, 41  # ids: sparse and increasing

HOUR, TEN_MINUTES = 3600, 600
WEATHER_LOCATION = 0  # also reports temperature and humidity
O3_PPB_LOCATION = 2  # o3 in ppb (locations 0 and 1 report it in µg/m³ and ppm, as their stations)
TEN_MINUTE_LOCATION = 3  # every sensor every 10 minutes
BOM_LOCATION = 4  # its exporter writes a UTF-8 byte-order mark
# Station 5 is the network's mobile station: a mobile location.
ALTERNATING_STYLE_LOCATION = 6  # its files alternate between the quoting styles day by day
OFFLINE_LOCATION = 7  # no file every third day (with faults)
FEATURED_LOCATIONS = 8
O3_PPB_SHARE, TEN_MINUTE_SHARE, WEATHER_SHARE, BOM_SHARE = 0.3, 0.1, 0.3, 0.02


@dataclass(frozen=True)
class Sensor:
    id: int
    parameter: str
    units: str
    interval: int  # seconds between readings; each reading is the mean of the interval it ends
    series: int | None  # the network series it measures; None for temperature and humidity


@dataclass(frozen=True)
class Location:
    index: int  # the network station it stands at
    id: int
    name: str  # the site name
    system_id: int  # the sensor system: the suffix of the files' ``location`` field
    locality: str
    country: str
    provider: str
    timezone: str
    latitude: float
    longitude: float
    mobile: bool
    bom: bool
    alternating_style: bool
    offline_every_third_day: bool
    sensors: tuple[Sensor, ...]

    @property
    def location_field(self) -> str:
        """The ``location`` column of its files: "<site name>-<sensor system id>"."""
        return f"{self.name}-{self.system_id}"

    def catalog_entry(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "locality": self.locality,
            "timezone": self.timezone,
            "country": self.country,
            "provider": self.provider,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "sensors": [{"id": s.id, "parameter": s.parameter, "units": s.units} for s in self.sensors],
            "is_monitor": True,
            "is_mobile": self.mobile,
        }


def build_locations(network: Network, seed: int) -> list[Location]:
    """One location per station of ``network``."""
    series_of_station: dict[int, list[int]] = {}
    for number, series in enumerate(network.series):
        series_of_station.setdefault(series.station.index, []).append(number)
    return [
        _build_location(seed, station, network, series_of_station.get(station.index, []))
        for station in network.stations
    ]


def _build_location(seed: int, station: Station, network: Network, series_numbers: list[int]) -> Location:
    index = station.index
    country = COUNTRIES[station.country_index]
    # The order of the draws below is part of the output.
    rng = random_stream(seed, Stream.ARCHIVE_LOCATION, index)
    location_id = LOCATION_ID_BASE + index * ID_SPACING + int(rng.integers(ID_SPACING))
    other_system_id = SYSTEM_ID_BASE + index * ID_SPACING + int(rng.integers(ID_SPACING))
    system_draw, o3_draw, ten_minute_draw, weather_draw, bom_draw = rng.random(5).tolist()  # always drawn
    drawn = index >= FEATURED_LOCATIONS  # featured locations take no habit at random
    ten_minute = index == TEN_MINUTE_LOCATION or (drawn and ten_minute_draw < TEN_MINUTE_SHARE)

    sensors = []
    for number in series_numbers:
        _, parameter, unit, averaging_hours = network.series[number]
        if averaging_hours >= 24:
            continue  # daily means are not in the hourly archive
        if parameter == "o3" and (index == O3_PPB_LOCATION or (drawn and o3_draw < O3_PPB_SHARE and unit == "ppm")):
            unit = "ppb"
        interval = TEN_MINUTES if ten_minute else int(averaging_hours * HOUR)
        sensors.append(Sensor(_sensor_id(index, parameter), parameter, unit, interval, number))
    if index == WEATHER_LOCATION or (drawn and weather_draw < WEATHER_SHARE) or not sensors:
        interval = TEN_MINUTES if ten_minute else HOUR
        sensors += [Sensor(_sensor_id(index, p), p, units, interval, None) for p, units in WEATHER_UNITS.items()]

    return Location(
        index=index,
        id=location_id,
        name=station.location,
        system_id=location_id if system_draw < 0.5 else other_system_id,
        locality=station.city,
        country=country.code,
        provider="Mobile Monitoring Campaign" if station.mobile else country.source_name,  # as in v1
        timezone=CITY_TIME_ZONES.get(station.city) or COUNTRY_TIME_ZONES[country.code],
        latitude=station.latitude,
        longitude=station.longitude,
        mobile=station.mobile,
        bom=index == BOM_LOCATION or (drawn and bom_draw < BOM_SHARE),
        alternating_style=index == ALTERNATING_STYLE_LOCATION,
        offline_every_third_day=index == OFFLINE_LOCATION,
        sensors=tuple(sensors),
    )


def _sensor_id(location_index: int, parameter: str) -> int:
    return SENSOR_ID_BASE + location_index * SENSOR_SLOTS + SLOTS[parameter]


def catalog_json(locations: list[Location]) -> bytes:
    """``locations.json``: a JSON list of the catalog entries, ordered by id, one per line."""
    entries = [location.catalog_entry() for location in sorted(locations, key=lambda location: location.id)]
    lines = ",\n".join(json.dumps(entry, ensure_ascii=False) for entry in entries)
    return f"[\n{lines}\n]\n".encode()
