"""Harmonize raw OpenAQ rows into TOAR series (pure pandas, no Dagster, no database).

The rules, in the order they are applied to each raw row (the first rule that fails names
the quarantine reason):

1. the line parsed as an OpenAQ record                          -> ``unparseable_line``
2. the parameter maps to a TOAR variable                        -> ``unsupported_parameter``
3. the unit is known, and convertible for that variable          -> ``unknown_unit`` / ``incompatible_unit``
   (gases from ppb, ppm or µg/m³; particles from µg/m³; temperature from °C or °F: ``c``, ``f``)
4. the value is present, finite, and not a "no data" sentinel (``SENTINEL_VALUES``: -999, -9999)
                                                    -> ``missing_value`` / ``value_not_finite`` / ``sentinel_value``
5. ``date.utc`` parses, is not before the source existed, and is not after the object was
   published (plus ``PUBLICATION_SKEW``)          -> ``invalid_timestamp`` / ``timestamp_before_source`` /
                                                     ``timestamp_after_publication``
6. coordinates are present and valid                             -> ``missing_coordinates`` / ``invalid_coordinates``
7. the station is fixed (not a mobile platform)                  -> ``mobile_platform``
8. the averaging period, if known, is plausible                  -> ``invalid_averaging_period``
9. the converted value is physically possible                    -> ``value_out_of_range``
   (``VALUE_LIMITS``; for ``temp``, -90 °C to 60 °C)

Units (``domain.vocabulary``): gases are stored in nmol/mol, particles in µg/m³, air
temperature (``temp``) in ``degree_Celsius``, °F converted as (F - 32) * 5 / 9. Flags: a value
above its variable's doubtful ceiling is ``DoubtfulPreliminaryHigh``; a concentration below
zero is ``DoubtfulPreliminaryNegative``, but a temperature below zero is an ordinary reading
(``SIGNED_VARIABLES``).

Times (``domain.times``): ``date.utc`` without an offset is UTC (the field says so); a time with
an offset is converted by its own offset. No OpenAQ real-time record ends before
``EARLIEST_MEASUREMENT`` (2013-01-01). Times are stored in whole seconds: each is truncated to
its second (``STORAGE_RESOLUTION``) *before* duplicates are found, so records less than a
second apart are duplicates (counted, latest publication wins) rather than two values the
database would fold into one.

Coordinates (``domain.stations``): latitude in [-90, 90], longitude in [-180, 180], and the pair
must not round to the station key (0, 0): (1e-5, 1e-5) is as invalid as (0, 0).

Averaging periods (``AVERAGING_PERIOD_MINUTES``): value x unit must lie between 1 minute and
366 days, else the record is quarantined (zero, negative, infinite and absurd periods would
name series like ``0min`` or ``-60min``). A missing period, or one in a unit not in
``MINUTES_PER_UNIT``, gives the sampling frequency ``unknown``.

Rows that pass become values of a series. Stations are identified by coordinates rounded to
``COORDINATE_DECIMALS`` decimals (1e-4 degree, about 11 m), whatever the source: a v1 station
and a v3 location at the same coordinates are one station. Every (name, city) a station was
seen under is kept as an alias, and every OpenAQ v3 location id as a code (``STATION_CODE_KIND``). A series is (station, variable, provider, sampling frequency).
Records of the same series and time are duplicates: the one from the latest published object
wins (then the later line), the others are counted.

Names (station name, city, country, provider) are stored with NUL replaced and cut to
``toar.text.MAX_NAME_CHARS`` characters, the same on PostgreSQL and SQLite; aliases whose name
or city changed are marked ``altered``, and ``strings_altered`` counts the records whose
stored text was altered (quarantined ones included; ``toar.text``, ``toar.quarantine``).

Conservation: ``rows_in == len(observations) + duplicates + len(quarantine)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from domain.quality import (
    AVERAGING_PERIOD_MINUTES,
    EARLIEST_MEASUREMENT,
    FLAGS,
    PUBLICATION_SKEW,
    REASONS,
    SENTINEL_VALUES,
    SIGNED_VARIABLES,
    VALUE_LIMITS,
)
from domain.raw_schema import PROVENANCE_ONLY_COLUMNS, RAW_SCHEMA
from domain.stations import COORDINATE_DECIMALS, at_null_island, coordinate_key, station_key
from domain.times import floor_times, parse_utc_times, per_distinct
from domain.vocabulary import (
    MINUTES_PER_UNIT,
    SAMPLING_FREQUENCIES,
    TOAR_UNITS,
    TOAR_VARIABLES,
    canonical_unit,
    conversion,
    toar_variable,
)
from toar import quarantine
from toar.text import MAX_NAME_CHARS, clean

# Version of these rules; stored with every value and used as the asset's code version.
HARMONIZATION_VERSION = "2"  # 2: temperature harmonized as temp

SERIES_KEY = ["lat_key", "lon_key", "variable", "provider", "sampling_frequency"]
STATION_CODE_KIND = "openaq_location_id"  # stationmeta_code.kind of the v3 location ids

# Times are stored to the second; finer differences are not different measurement ends.
STORAGE_RESOLUTION = np.timedelta64(1, "s")

# Lookup tables by variable code and unit code; code -1 (not in the vocabulary) reads the
# last row or column, which holds NaN or False.
_VARIABLES = np.array(sorted(set(TOAR_VARIABLES.values())), dtype=object)
_VARIABLE_CODES = {variable: code for code, variable in enumerate(_VARIABLES)}
_UNIT_CODES = {"ppb": 0, "ppm": 1, "ug/m3": 2, "c": 3, "f": 4}
_TOAR_UNITS = np.array([TOAR_UNITS[v] for v in _VARIABLES], dtype=object)
_SIGNED = np.array([v in SIGNED_VARIABLES for v in _VARIABLES] + [False])


def _conversions() -> tuple[np.ndarray, np.ndarray]:
    """Offset and factor from each (variable, unit) to the variable's TOAR unit, as
    ``(value + offset) * factor``; the factor is NaN where the unit cannot express the variable."""
    offsets = np.zeros((len(_VARIABLES) + 1, len(_UNIT_CODES) + 1))
    factors = np.full_like(offsets, np.nan)
    for code, variable in enumerate(_VARIABLES):
        for unit, unit_code in _UNIT_CODES.items():
            converts = conversion(variable, unit)
            if converts is not None:
                offsets[code, unit_code], factors[code, unit_code] = converts
    return offsets, factors


_OFFSETS, _FACTORS = _conversions()
_LIMITS = np.array([VALUE_LIMITS[v] for v in _VARIABLES] + [(np.nan, np.nan, np.nan)])


# Raw columns harmonization reads (attribution is provenance only, left in the raw layer).
RAW_INPUT_COLUMNS = [name for name in RAW_SCHEMA.names if name not in PROVENANCE_ONLY_COLUMNS]


@dataclass
class Harmonized:
    """One partition's harmonized output, ready to be written to the TOAR database."""

    # SERIES_KEY + datetime, value, flags, source_key, published_at, and series_index: the
    # value's row in ``series``
    observations: pd.DataFrame
    stations: pd.DataFrame  # lat_key, lon_key, name, city, country, latitude, longitude
    aliases: pd.DataFrame  # lat_key, lon_key, name, city, first_seen, last_seen, altered
    codes: pd.DataFrame  # lat_key, lon_key, kind, code: the stations' OpenAQ location ids
    series: pd.DataFrame  # SERIES_KEY + unit, first_time, last_time (of its values in the partition)
    quarantine: pd.DataFrame  # source_key, line_number, reason, detail, record, record_bytes
    objects: pd.DataFrame  # source_key, source_etag, published_at (objects that had rows)
    rows_in: int
    duplicates: int
    duplicates_with_other_value: int
    strings_altered: int  # records whose stored text was altered (see toar.text)

    @property
    def conserved(self) -> bool:
        return self.rows_in == len(self.observations) + self.duplicates + len(self.quarantine)

    def quarantined_by_reason(self) -> dict[str, int]:
        return self.quarantine["reason"].value_counts().sort_index().to_dict()

    @classmethod
    def combine(cls, parts: list[Harmonized]) -> Harmonized:
        """One partition from its parts made by harmonize_in_parts (which share no
        station, series or record); series stay in key order within each part."""
        offsets = np.cumsum([0] + [len(part.series) for part in parts[:-1]])
        observations = [
            part.observations.assign(series_index=part.observations["series_index"] + offset)
            for part, offset in zip(parts, offsets, strict=True)
        ]

        def concat(frames: list[pd.DataFrame], order: list[str] | None = None) -> pd.DataFrame:
            frame = pd.concat(frames, ignore_index=True)
            return frame.sort_values(order, ignore_index=True) if order else frame

        return cls(
            observations=concat(observations),
            stations=concat([part.stations for part in parts], ["lat_key", "lon_key"]),
            aliases=concat([part.aliases for part in parts], ["lat_key", "lon_key", "name", "city"]),
            codes=concat([part.codes for part in parts], ["lat_key", "lon_key", "code"]),
            series=concat([part.series for part in parts]),
            quarantine=concat([part.quarantine for part in parts]),
            objects=concat([part.objects for part in parts]).drop_duplicates("source_key", ignore_index=True),
            rows_in=sum(part.rows_in for part in parts),
            duplicates=sum(part.duplicates for part in parts),
            duplicates_with_other_value=sum(part.duplicates_with_other_value for part in parts),
            strings_altered=sum(part.strings_altered for part in parts),
        )


def harmonize(raw: pa.Table) -> Harmonized:
    """Apply the rules in the module docstring to one partition of raw rows (RAW_SCHEMA)."""
    return next(harmonize_in_parts(raw, max(raw.num_rows, 1)))


def harmonize_in_parts(raw: pa.Table, rows_per_part: int) -> Iterator[Harmonized]:
    """The partition harmonized in about ``len(raw) / rows_per_part`` parts, yielded as each is
    done (so a writer can load one while the next is assembled).

    The rules run once over every row; then each part gathers its rows. A station (coordinate
    key) is wholly in one part, so stations, series, duplicates and aliases never span two
    and the parts share nothing (``Harmonized.combine`` joins them into the partition). The
    first part is a quarter of the others, so a writer starts early; rows without usable
    coordinates, which are quarantined, are spread over the other parts.
    """
    facts = _RowFacts(raw)
    for rows in facts.station_parts(rows_per_part):
        yield facts.assemble(rows)


class _RowFacts:
    """What the rules say about every row of a partition, as arrays over its rows."""

    def __init__(self, raw: pa.Table):
        # Arrow tells an absent value (null) from a NaN literal; pandas would fold them together.
        value_missing = raw.column("value").is_null().to_numpy(zero_copy_only=False)
        # Strings as categoricals: a day repeats a few thousand names, keys and times in 500k rows.
        self.frame = frame = raw.select(RAW_INPUT_COLUMNS).to_pandas(strings_to_categorical=True)
        # What quarantine rows are made of, as the raw layer has it (nulls and NaN apart).
        self.raw = raw.select([c for c in (*quarantine.INPUT_COLUMNS, "raw_line_bytes") if c in raw.column_names])
        # Vocabularies as small integer codes (-1: not in it); per-row facts are table lookups.
        self.variable_code = per_distinct(frame["parameter"], lambda s: s.map(_variable_code), -1).astype(np.intp)
        unit_code = per_distinct(frame["unit"], lambda s: s.map(_unit_code), -1).astype(np.intp)
        factor = _FACTORS[self.variable_code, unit_code]
        raw_value = frame["value"].to_numpy(dtype=float)
        self.value = value = (raw_value + _OFFSETS[self.variable_code, unit_code]) * factor
        self.when = when = floor_times(parse_utc_times(frame["date_utc"]), STORAGE_RESOLUTION)
        self.published = published = raw.column("published_at").to_numpy(zero_copy_only=False).astype("datetime64[ns]")
        self.lat, self.lon = lat, lon = (
            frame["latitude"].to_numpy(dtype=float),
            frame["longitude"].to_numpy(dtype=float),
        )
        minutes = _averaging_minutes(frame)
        self.sampling_frequency = _sampling_frequency(minutes)
        # The strings rows sort and group by, as codes with ranks (see _Strings); names cleaned
        # for storage (toar.text).
        self.provider = _Strings.of(frame["source_name"], "unknown", clean_to=MAX_NAME_CHARS)
        self.source = _Strings.of(frame["source_key"], None)
        self.location = _Strings.of(frame["location"], "", clean_to=MAX_NAME_CHARS)
        self.city = _Strings.of(frame["city"], "", clean_to=MAX_NAME_CHARS)
        self.country = _Strings.of(frame["country"], "", clean_to=MAX_NAME_CHARS)
        self.etag = _Strings.of(frame["source_etag"], None)
        self.line_number = frame["line_number"].to_numpy()
        self.location_id = raw.column("location_id").fill_null(-1).to_numpy()  # -1: none (v1 records)
        floor, self.high, ceiling = _LIMITS[self.variable_code].T
        shortest, longest = AVERAGING_PERIOD_MINUTES
        with np.errstate(invalid="ignore"):  # NaN compares False: those rows fail an earlier rule
            reason_rules = [
                frame["parse_error"].notna().to_numpy(),  # unparseable_line
                self.variable_code < 0,  # unsupported_parameter
                unit_code < 0,  # unknown_unit
                np.isnan(factor),  # incompatible_unit
                value_missing,  # missing_value
                ~np.isfinite(raw_value),  # value_not_finite
                np.isin(raw_value, SENTINEL_VALUES),  # sentinel_value
                np.isnat(when),  # invalid_timestamp
                when < np.datetime64(EARLIEST_MEASUREMENT),  # timestamp_before_source
                ~np.isnat(published) & (when > published + PUBLICATION_SKEW),  # timestamp_after_publication
                np.isnan(lat) | np.isnan(lon),  # missing_coordinates
                ~_on_earth(lat, lon) | at_null_island(lat, lon),  # invalid_coordinates
                raw.column("mobile").fill_null(False).to_numpy(zero_copy_only=False),  # mobile_platform
                ~np.isnan(minutes) & ~((minutes >= shortest) & (minutes <= longest)),  # invalid_averaging_period
                (value < floor) | (value > ceiling),  # value_out_of_range
            ]
        # The first rule a row fails, as 1 + its position in REASONS; 0 if it passes them all.
        self.failed_rule = np.select(reason_rules, np.arange(1, len(REASONS) + 1), 0)

    def station_parts(self, rows_per_part: int) -> list[np.ndarray]:
        """Row positions of each part, in row order (see harmonize_in_parts)."""
        parts = max(1, round(len(self.frame) / rows_per_part))
        if parts == 1:
            return [np.arange(len(self.frame))]
        usable = _on_earth(self.lat, self.lon)  # the others are quarantined (and their keys may not fit an integer)
        part = np.zeros(len(self.frame), np.int64)
        # Each station's place in [0, 1), hashed: coordinates published with few decimals
        # spread over the parts too. Part 0 takes a quarter of the others' share.
        place = pd.util.hash_array(station_key(self.lat[usable], self.lon[usable])) % 2**20 / 2**20
        first = 1 / (4 * parts - 3)
        part[usable] = np.searchsorted(np.linspace(first, 1, parts), place, side="right")
        part[~usable] = 1 + np.arange((~usable).sum()) % (parts - 1)
        return [np.flatnonzero(part == k) for k in range(parts)]

    def assemble(self, rows: np.ndarray) -> Harmonized:
        """The harmonized rows at positions ``rows``: values, quarantine, stations, series.

        Rows are sorted, grouped and deduplicated as integer arrays (coordinate keys, and
        strings by rank); output frames are built once, from the rows that are kept."""
        failed_rule = self.failed_rule[rows]
        bad, keep = rows[failed_rule > 0], rows[failed_rule == 0]
        rejected, text_altered = quarantine.quarantine_rows(
            self.raw.take(bad), np.asarray(REASONS, dtype=object)[failed_rule[failed_rule > 0] - 1]
        )
        names_altered = (
            self.location.altered(keep)
            | self.city.altered(keep)
            | self.country.altered(keep)
            | self.provider.altered(keep)
        )

        lat_key, lon_key = coordinate_key(self.lat[keep]), coordinate_key(self.lon[keep])
        series_key = (
            lat_key,
            lon_key,
            self.variable_code[keep],
            self.provider.ranks(keep),
            self.sampling_frequency.ranks(keep),
        )
        when, published = self.when[keep].view(np.int64), self.published[keep].view(np.int64)  # NaT first
        line, source = self.line_number[keep], self.source.ranks(keep)
        # Latest publication wins; ties go to the later line of the same object (source keys in
        # key order).
        order = np.lexsort((line, source, published, when, *reversed(series_key)))
        starts_series = _starts([key[order] for key in series_key])
        ordered_series = np.cumsum(starts_series) - 1
        moment, ordered_value = when[order], self.value[keep][order]
        same_as_next = (ordered_series[1:] == ordered_series[:-1]) & (moment[1:] == moment[:-1])
        is_dup = np.append(same_as_next, False)[: len(order)]  # every record of a (series, time) but the last
        group = np.cumsum(np.insert(~same_as_next, 0, True))[: len(order)] - 1
        winner_value = ordered_value[~is_dup][group]
        duplicates_with_other_value = int((is_dup & ~np.isclose(ordered_value, winner_value)).sum())

        # A station's name, city and country are those of its first record: the first of its
        # series' first records.
        series_first = order[starts_series]
        seen = series_first[
            np.lexsort((line[series_first], source[series_first], published[series_first], when[series_first]))
        ]
        stations = self._stations(keep[seen], lat_key[seen], lon_key[seen])
        aliases = self._aliases(keep, lat_key, lon_key)
        coded = self.location_id[keep] >= 0
        codes = (
            pd.DataFrame(
                {
                    "lat_key": lat_key[coded],
                    "lon_key": lon_key[coded],
                    "kind": STATION_CODE_KIND,
                    "code": self.location_id[keep][coded].astype(str),
                }
            )
            .drop_duplicates()
            .sort_values(["lat_key", "lon_key", "code"], ignore_index=True)
        )

        winners = order[~is_dup]
        winner_series = ordered_series[~is_dup]
        at = keep[winners]  # the winners' rows, in series and time order
        value = self.value[at]
        observations = pd.DataFrame(
            {
                "lat_key": lat_key[winners],
                "lon_key": lon_key[winners],
                "variable": _VARIABLES[self.variable_code[at]],
                "provider": self.provider.strings(at),
                "sampling_frequency": self.sampling_frequency.strings(at),
                "datetime": self.when[at],
                "value": value,
                "flags": pd.Categorical.from_codes(  # codes into FLAGS: OK, negative, high
                    np.select(
                        [(value < 0) & ~_SIGNED[self.variable_code[at]], value > self.high[at]], [1, 2], default=0
                    ),
                    categories=list(FLAGS),
                ),
                "source_key": self.source.strings(at),
                "published_at": self.published[at],
                "series_index": winner_series,
            }
        )
        first_of_series = np.insert(winner_series[1:] != winner_series[:-1], 0, True)[: len(winners)]
        last_of_series = np.append(first_of_series[1:], True)[: len(winners)]
        series = observations.loc[first_of_series, SERIES_KEY].reset_index(drop=True)  # in key order
        series["unit"] = _TOAR_UNITS[self.variable_code[at[first_of_series]]]
        times = observations["datetime"].to_numpy()  # in time order within each series
        series["first_time"], series["last_time"] = times[first_of_series], times[last_of_series]
        objects = pd.DataFrame(
            {
                "source_key": self.source.strings(rows),
                "source_etag": self.etag.strings(rows),
                "published_at": self.published[rows],
            }
        ).drop_duplicates("source_key", ignore_index=True)

        return Harmonized(
            observations=observations,
            stations=stations,
            aliases=aliases,
            codes=codes,
            series=series,
            quarantine=rejected,
            objects=objects,
            rows_in=len(rows),
            duplicates=int(is_dup.sum()),
            duplicates_with_other_value=duplicates_with_other_value,
            strings_altered=text_altered + int(names_altered.sum()),
        )

    def _stations(self, first: np.ndarray, lat_key: np.ndarray, lon_key: np.ndarray) -> pd.DataFrame:
        """One row per coordinate key, named by the first of the rows ``first`` (in that order)
        with that key."""
        stations = pd.DataFrame({"lat_key": lat_key, "lon_key": lon_key}).drop_duplicates()
        rows = first[stations.index.to_numpy()]
        stations["name"], stations["city"] = self.location.strings(rows), self.city.strings(rows)
        stations["country"] = self.country.strings(rows)
        stations["latitude"] = stations["lat_key"] / 10**COORDINATE_DECIMALS
        stations["longitude"] = stations["lon_key"] / 10**COORDINATE_DECIMALS
        return stations.sort_values(["lat_key", "lon_key"]).reset_index(drop=True)

    def _aliases(self, keep: np.ndarray, lat_key: np.ndarray, lon_key: np.ndarray) -> pd.DataFrame:
        """Every (coordinate key, name, city) of the kept rows with its first and last time."""
        key = (lat_key, lon_key, self.location.ranks(keep), self.city.ranks(keep))
        order = np.lexsort(tuple(reversed(key)))
        starts = np.flatnonzero(_starts([k[order] for k in key]))
        first = keep[order[starts]]
        times = self.when[keep][order]
        # Rows cut or cleaned to the same name and city are one alias, altered if any of them was.
        altered = (self.location.altered(keep) | self.city.altered(keep))[order]
        return pd.DataFrame(
            {
                "lat_key": lat_key[order[starts]],
                "lon_key": lon_key[order[starts]],
                "name": self.location.strings(first),
                "city": self.city.strings(first),
                "first_seen": np.minimum.reduceat(times, starts) if len(starts) else times,
                "last_seen": np.maximum.reduceat(times, starts) if len(starts) else times,
                "altered": np.logical_or.reduceat(altered, starts) if len(starts) else altered,
            }
        )


def _starts(keys: list[np.ndarray]) -> np.ndarray:
    """Which rows of sorted keys start a new group (a change in any key)."""
    if not len(keys[0]):
        return np.zeros(0, bool)
    changed = np.zeros(len(keys[0]) - 1, bool)
    for key in keys:
        changed |= key[1:] != key[:-1]
    return np.insert(changed, 0, True)


@dataclass(frozen=True)
class _Strings:
    """A string column as a code per row into its distinct strings (a missing string reads
    the last one), with each string's rank in sorted order (equal strings share one): rows
    sort and group by numbers, and strings are gathered only for the output."""

    names: np.ndarray  # object
    codes: np.ndarray  # per row; -1 reads the last name
    name_rank: np.ndarray
    name_altered: np.ndarray  # per name: cleaned for storage (toar.text)

    @classmethod
    def of(cls, column: pd.Series, missing, clean_to: int | None = None) -> _Strings:
        """From a categorical column; nulls read ``missing``. With ``clean_to``, names are
        cleaned for storage and cut to that many characters (toar.text): names that become
        equal share one rank."""
        names = column.cat.categories.to_numpy(dtype=object)
        altered = np.zeros(len(names), bool)
        if clean_to is not None and len(names):
            cleaned, altered = clean(names, clean_to)
            names = cleaned.to_numpy(zero_copy_only=False).astype(object)
        return cls.from_codes(np.append(names, missing), column.cat.codes.to_numpy(), np.append(altered, False))

    @classmethod
    def from_codes(cls, names: np.ndarray, codes: np.ndarray, altered: np.ndarray | None = None) -> _Strings:
        altered = np.zeros(len(names), bool) if altered is None else altered
        return cls(names, codes, pd.factorize(names, sort=True)[0], altered)  # None ranks -1: first

    def ranks(self, rows: np.ndarray) -> np.ndarray:
        return self.name_rank[self.codes[rows]]

    def altered(self, rows: np.ndarray) -> np.ndarray:
        return self.name_altered[self.codes[rows]]

    def strings(self, rows: np.ndarray) -> np.ndarray:
        return self.names[self.codes[rows]]


def _variable_code(parameter: str) -> int:
    variable = toar_variable(parameter)
    return -1 if variable is None else _VARIABLE_CODES[variable]


def _unit_code(unit: str) -> int:
    return _UNIT_CODES.get(canonical_unit(unit) or "", -1)


def _on_earth(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (lat >= -90) & (lat <= 90) & (lon >= -180) & (lon <= 180)


def _averaging_minutes(frame: pd.DataFrame) -> np.ndarray:
    """The averaging period (value x unit) in minutes; NaN where missing or in an unknown unit."""
    per_unit = per_distinct(
        frame["averaging_period_unit"], lambda s: s.str.strip().str.lower().map(MINUTES_PER_UNIT).astype(float), np.nan
    )
    with np.errstate(invalid="ignore"):  # inf x 0 and the like: NaN, as unknown
        return frame["averaging_period_value"].to_numpy(dtype=float) * per_unit


def _sampling_frequency(minutes: np.ndarray) -> _Strings:
    """TOAR sampling frequency names from the averaging period in minutes."""
    codes, distinct = pd.factorize(minutes)
    names = [SAMPLING_FREQUENCIES.get(m, f"{m:g}min") if np.isfinite(m) else "unknown" for m in distinct]
    return _Strings.from_codes(np.array(names + ["unknown"], dtype=object), codes)  # code -1: no averaging period
