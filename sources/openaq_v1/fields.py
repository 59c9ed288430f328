"""Where an OpenAQ v1 record holds each raw column: its path in the JSON record, in OpenAQ's order."""

from __future__ import annotations

RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "date_utc": ("date", "utc"),
    "date_local": ("date", "local"),
    "parameter": ("parameter",),
    "location": ("location",),
    "value": ("value",),
    "unit": ("unit",),
    "city": ("city",),
    "attribution": ("attribution",),
    "averaging_period_value": ("averagingPeriod", "value"),
    "averaging_period_unit": ("averagingPeriod", "unit"),
    "latitude": ("coordinates", "latitude"),
    "longitude": ("coordinates", "longitude"),
    "country": ("country",),
    "source_name": ("sourceName",),
    "source_type": ("sourceType",),
    "mobile": ("mobile",),
}


def nested_layout(columns: list[str]) -> list[tuple[str, str | list[tuple[str, str]]]]:
    """The record's keys for these raw columns, in OpenAQ's order: (key, column) for a plain
    field, (key, [(key, column), ...]) for an object such as ``coordinates``."""
    layout: list[tuple[str, str | list[tuple[str, str]]]] = []
    for column, path in RECORD_FIELDS.items():
        if column not in columns:
            continue
        if len(path) == 1:
            layout.append((path[0], column))
        elif layout and layout[-1][0] == path[0] and isinstance(layout[-1][1], list):
            layout[-1][1].append((path[1], column))
        else:
            layout.append((path[0], [(path[1], column)]))
    return layout
