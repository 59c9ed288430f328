"""OpenAQ v3 archive (``s3://openaq-data-archive/records/csv.gz/``, the live source): one gzipped
CSV per location and local day, holding every sensor of the location."""
