"""A mirror of OpenAQ's v1 "realtime" S3 bucket (``openaq-fetches``).

Layout written below the bucket root::

    YYYY-MM-DD/<unix>.ndjson.gz           legacy objects (gzip)
    YYYY-MM-DD/<unix>_<suffix>.ndjson     newer objects (plain text)

The folder is the UTC fetch day, ``<unix>`` the publish time of the object inside that
day. Every line is one OpenAQ measurement with the exact OpenAQ keys and key order.

Modules: ``publication`` (objects and when measurements appear in them), ``records`` (the
text of the lines), ``faults`` (broken input), ``bucket`` (writing, ``generate_bucket``).
"""
