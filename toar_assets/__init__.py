"""Data logistics: OpenAQ objects in, harmonized TOAR series out.

Importing the package picks Arrow's memory allocator for the process (every process that
loads the code location imports it): the system allocator, unless ARROW_DEFAULT_MEMORY_POOL
names one. Arrow's default, mimalloc, backs its memory with transparent huge pages, which the
kernel zeroes 2 MB at a time when first touched: a step's fresh process spent about 1 s of
kernel time on that for a realistic day (0.3 s with the system allocator), and the day took
about 0.35 s longer end to end (benchmarks/README.md, section 1).
"""

import os

import pyarrow as pa

if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
    pa.set_memory_pool(pa.system_memory_pool())
