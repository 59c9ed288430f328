"""What every asset stands on: daily partitions, table metadata (column schemas and lineage)."""
