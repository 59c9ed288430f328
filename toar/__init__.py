"""TOAR harmonization and database: raw rows -> stations, series, flagged values and quarantine,
written to PostgreSQL or SQLite one partition per transaction. No Dagster."""
