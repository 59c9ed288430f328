"""The domain core: vocabularies, units, flags, value limits, station identity, times, asset
names and the raw schema. Plain Python over numpy, pandas and pyarrow; no Dagster, no database.
Every other layer builds on these facts, so each is defined once, here."""
