"""The vocabulary's facts agree with each other: every variable has a unit, limits and accepted units."""

import pytest

from domain.quality import SIGNED_VARIABLES, VALUE_LIMITS
from domain.vocabulary import (
    ACCEPTED_UNITS,
    TOAR_UNITS,
    TOAR_VARIABLES,
    UNIT_CELSIUS,
    UNIT_PPB,
    UNIT_UG_M3,
    canonical_unit,
    conversion,
    is_openaq_parameter,
    is_openaq_unit,
    toar_variable,
)


def test_every_variable_has_a_unit_limits_and_units_it_is_accepted_in():
    variables = set(TOAR_VARIABLES.values())
    assert set(TOAR_UNITS) == set(VALUE_LIMITS) == set(ACCEPTED_UNITS) == variables
    assert variables >= SIGNED_VARIABLES
    for variable, (floor, doubtful, ceiling) in VALUE_LIMITS.items():
        assert floor < doubtful < ceiling, variable
        for unit in ACCEPTED_UNITS[variable]:
            assert conversion(variable, unit) is not None, (variable, unit)


def test_temperature_is_temp_in_degrees_celsius_and_humidity_stays_unsupported():
    assert toar_variable("temperature") == toar_variable(" Temperature ") == "temp"
    assert TOAR_UNITS["temp"] == UNIT_CELSIUS == "degree_Celsius"
    assert (TOAR_UNITS["o3"], TOAR_UNITS["pm2p5"]) == (UNIT_PPB, UNIT_UG_M3)
    assert VALUE_LIMITS["temp"][0] == -90.0 and VALUE_LIMITS["temp"][2] == 60.0
    assert toar_variable("relativehumidity") is None and is_openaq_parameter("relativehumidity")


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [("c", "c"), ("C", "c"), ("°C", "c"), (" °c ", "c"), ("f", "f"), ("F", "f"), ("°F", "f"), ("K", None)],
)
def test_temperature_units_are_folded_whatever_their_case(spelling, canonical):
    assert canonical_unit(spelling) == canonical
    assert is_openaq_unit(spelling) == (canonical is not None)


def test_concentration_units_keep_their_case():
    # mg and Mg differ by a factor of 10^9: a concentration unit is matched as spelled.
    assert canonical_unit("ppm") == "ppm" and canonical_unit("PPM") is None


@pytest.mark.parametrize(
    ("variable", "unit", "value", "expected"),
    [
        ("temp", "c", -12.5, -12.5),
        ("temp", "f", 32.0, 0.0),
        ("temp", "f", 212.0, 100.0),
        ("temp", "f", -40.0, -40.0),
        ("o3", "ppm", 0.04, 40.0),
        ("o3", "ug/m3", 79.8, 40.0),  # 1.995 µg/m³ per ppb
        ("pm2p5", "ug/m3", 12.0, 12.0),
    ],
)
def test_conversion_to_the_toar_unit(variable, unit, value, expected):
    offset, factor = conversion(variable, unit)
    assert (value + offset) * factor == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("variable", "unit"), [("temp", "ppb"), ("temp", "ug/m3"), ("o3", "c"), ("pm2p5", "f")])
def test_a_unit_of_the_other_kind_cannot_express_a_variable(variable, unit):
    assert conversion(variable, unit) is None
