"""A mirror of OpenAQ's v3 archive bucket (``openaq-data-archive``), the live source.

Layout written below the archive root::

    records/csv.gz/locationid={id}/year={YYYY}/month={MM}/location-{id}-{YYYYMMDD}.csv.gz
    locations.json      the catalog of the locations (what the OpenAQ API's /locations lists)

One gzipped CSV per location and LOCAL day, holding every sensor of the location; header
``location_id,sensors_id,location,datetime,lat,lon,parameter,units,value``.

Modules: ``catalog`` (locations, sensors, ids, time zones, ``locations.json``), ``readings``
(the values of a location-day), ``text`` (the CSV text: quoting styles, BOM, sentinels, broken
lines), ``archive`` (writing, ``generate_archive``), ``patch`` (re-written files,
``patch_archive``), ``command`` (the ``archive`` and ``patch-archive`` subcommands).
"""
