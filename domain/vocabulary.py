"""Parameters, units and sampling frequencies: OpenAQ's spellings and their TOAR names.

Harmonization and the data checks both read this one vocabulary, so a spelling that
harmonization accepts is never bad in a check's eyes.

Each TOAR variable is stored in one unit (``TOAR_UNITS``): gases in nmol/mol (``UNIT_PPB``),
particles in µg/m³ (``UNIT_UG_M3``), air temperature (``temp``, OpenAQ's ``temperature``) in
degrees Celsius, spelled ``degree_Celsius`` as UDUNITS and the CF conventions spell it
(``UNIT_CELSIUS``). A value is accepted in the canonical units of ``ACCEPTED_UNITS`` and
converted by ``conversion``; any other unit cannot express the variable.
"""

from __future__ import annotations

# OpenAQ parameter -> TOAR variable.
TOAR_VARIABLES = {
    "o3": "o3",
    "no2": "no2",
    "no": "no",
    "so2": "so2",
    "co": "co",
    "pm10": "pm10",
    "pm25": "pm2p5",
    "bc": "bc",
    "temperature": "temp",
}
GASES = {"o3", "no2", "no", "so2", "co"}
TEMPERATURES = {"temp"}  # not amounts of a substance: stored in degrees Celsius

# µg/m³ per nmol/mol (ppb) at 20 °C and 1013.25 hPa, the EU reporting convention.
UG_M3_PER_PPB = {"o3": 1.995, "no2": 1.913, "no": 1.247, "so2": 2.663, "co": 1.164}
CONVERSION_CONVENTION = (
    "gases in nmol/mol (ppb) converted from µg/m³ at 20 °C, 1013.25 hPa; "
    "temperature in degree_Celsius, °F converted as (F - 32) * 5 / 9"
)

UNIT_PPB = "nmol/mol"
UNIT_UG_M3 = "µg/m³"
UNIT_CELSIUS = "degree_Celsius"

# Spellings of units seen in the feed, folded to one canonical name.
UNIT_SPELLINGS = {
    "µg/m³": "ug/m3",
    "μg/m³": "ug/m3",  # Greek mu instead of the micro sign
    "ug/m3": "ug/m3",
    "µg/m3": "ug/m3",
    "ug/m³": "ug/m3",
    "ppm": "ppm",
    "ppb": "ppb",
}
# Temperature units, matched whatever their case: "C" and "c" cannot be two different units,
# whereas "mg" and "Mg" are (so concentration units are matched as spelled).
TEMPERATURE_UNIT_SPELLINGS = {"c": "c", "°c": "c", "f": "f", "°f": "f"}

# The TOAR unit of each variable, and the canonical units a value of it is accepted in.
TOAR_UNITS = {
    variable: UNIT_PPB if variable in GASES else UNIT_CELSIUS if variable in TEMPERATURES else UNIT_UG_M3
    for variable in TOAR_VARIABLES.values()
}
ACCEPTED_UNITS = {
    variable: ("ppb", "ppm", "ug/m3") if variable in GASES else ("c", "f") if variable in TEMPERATURES else ("ug/m3",)
    for variable in TOAR_VARIABLES.values()
}

# Averaging period in minutes -> TOAR sampling frequency name.
SAMPLING_FREQUENCIES = {15.0: "15min", 60.0: "hourly", 1440.0: "daily"}
MINUTES_PER_UNIT = {"hours": 60.0, "hour": 60.0, "minutes": 1.0, "minute": 1.0, "days": 1440.0, "day": 1440.0}


def toar_variable(parameter: str) -> str | None:
    """The TOAR variable an OpenAQ parameter spelling stands for, or None."""
    return TOAR_VARIABLES.get(parameter.strip().lower())


def canonical_unit(unit: str) -> str | None:
    """The canonical name (ppb, ppm, ug/m3, c, f) of a unit spelling, or None."""
    unit = unit.strip()
    return UNIT_SPELLINGS.get(unit) or TEMPERATURE_UNIT_SPELLINGS.get(unit.lower())


def conversion(variable: str, unit: str) -> tuple[float, float] | None:
    """(offset, factor) taking a value of ``variable`` in the canonical ``unit`` to its TOAR
    unit as ``(value + offset) * factor``; None if the unit cannot express the variable."""
    if unit not in ACCEPTED_UNITS[variable]:
        return None
    if unit == "f":
        return -32.0, 5.0 / 9.0
    if unit == "ppm":
        return 0.0, 1000.0
    if unit == "ug/m3" and variable in GASES:
        return 0.0, 1.0 / UG_M3_PER_PPB[variable]
    return 0.0, 1.0  # ppb of a gas, µg/m³ of particles, °C


# What else OpenAQ publishes (v1 real-time feed and v3): not TOAR variables, so harmonization
# quarantines them as unsupported, but a source that sends them is not broken.
OTHER_OPENAQ_PARAMETERS = {
    "nox",
    "pm1",
    "pm4",
    "co2",
    "ch4",
    "relativehumidity",
    "pressure",
    "wind_speed",
    "wind_direction",
    "um003",
    "um005",
    "um010",
    "um025",
    "um050",
    "um100",
}
OTHER_OPENAQ_UNITS = {"%", "hpa", "mb", "particles/cm³", "particles/cm3", "m/s", "deg"}


def is_openaq_parameter(parameter: str) -> bool:
    """Whether OpenAQ publishes this parameter (in any spelling harmonization accepts)."""
    return toar_variable(parameter) is not None or parameter.strip().lower() in OTHER_OPENAQ_PARAMETERS


def is_openaq_unit(unit: str) -> bool:
    """Whether OpenAQ publishes this unit (in any spelling harmonization accepts)."""
    return canonical_unit(unit) is not None or unit.strip().lower() in OTHER_OPENAQ_UNITS
