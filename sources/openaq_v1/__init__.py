"""OpenAQ v1 real-time objects (``openaq-fetches``, 2013-2023): NDJSON records, one object about
every ten minutes, in ``realtime[-gzipped]/YYYY-MM-DD/`` prefixes."""
