"""Text written to the TOAR tables: bounded, and free of what PostgreSQL refuses.

PostgreSQL stores no NUL character (U+0000) in text, and its btree indexes refuse a key of
more than about 2.7 kB (the alias key holds a name and a city; the series key a provider).
SQLite stores both. The rules are the same on both databases, so a record costs the same
wherever it is written:

- NUL becomes U+FFFD, the replacement character (which also stands for the undecodable bytes
  of a raw line).
- Names (station name, city, country, provider) keep their first ``MAX_NAME_CHARS``
  characters; a quarantine row's ``detail`` its first ``MAX_DETAIL_CHARS``; its ``record`` its
  first ``MAX_RECORD_CHARS`` (``record_bytes`` holds the whole record's length, see
  ``toar.quarantine``).
- A string a rule changed is *altered*: an alias whose name or city was altered is stored
  with ``altered`` true, and ``Harmonized.strings_altered`` counts the raw records whose
  written text (names of a value's record; a quarantined record's text or detail) was altered.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPLACEMENT = "\ufffd"
MAX_NAME_CHARS = 200  # at most 800 bytes of UTF-8: a name and a city fit one index key
MAX_DETAIL_CHARS = 1000
MAX_RECORD_CHARS = 8000  # an OpenAQ record is about 400 characters


def clean(strings: np.ndarray | pa.Array, max_chars: int) -> tuple[pa.Array, np.ndarray]:
    """Strings (None: missing) with NUL replaced and cut to ``max_chars`` characters, and which
    of them that altered."""
    text = strings if isinstance(strings, pa.Array) else pa.array(strings, pa.large_string(), from_pandas=True)
    cleaned = pc.utf8_slice_codeunits(pc.replace_substring(text, "\x00", REPLACEMENT), 0, max_chars)
    altered = pc.not_equal(cleaned, text).fill_null(False).to_numpy(zero_copy_only=False)
    return cleaned, altered
