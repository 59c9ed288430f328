"""Import each product module alone, in a process that has loaded no product module, and report
what the import changed in the process. Run as ``python -m tests.architecture.import_probe MODULE...``;
prints one JSON line per module.

The third-party libraries are loaded once first and each module is imported in a forked child,
so a hundred modules take seconds: a cycle among the product's own modules still shows, as
none of them is loaded before the child imports its one.
"""

import gc
import json
import os
import sys
import warnings

THIRD_PARTY = [
    "dagster",
    "pandas",
    "numpy",
    "pyarrow",
    "pyarrow.json",
    "pyarrow.parquet",
    "sqlalchemy",
    "psutil",
    "boto3",
    "pydantic",
]


def snapshot(root: str) -> dict:
    import pyarrow as pa

    return {
        "environment": dict(os.environ),
        "files": sorted(os.listdir(root)) + sorted(os.listdir(os.getcwd())),
        "arrow_allocator": pa.default_memory_pool().backend_name,
        "gc_frozen": gc.get_freeze_count(),
        "warning_filters": [repr(f) for f in warnings.filters],
    }


def probe(module: str, root: str) -> dict:
    before = snapshot(root)
    try:
        __import__(module)
    except Exception as exc:  # reported, not raised: the parent lists every failure
        return {"module": module, "error": f"{type(exc).__name__}: {exc}"}
    after = snapshot(root)
    changed = {}
    for name in before:
        if before[name] != after[name]:
            if isinstance(before[name], dict):
                keys = set(before[name]) ^ set(after[name]) | {
                    k for k in before[name] if before[name][k] != after[name].get(k)
                }
                changed[name] = sorted(keys)
            elif isinstance(before[name], list):
                changed[name] = sorted(set(map(str, after[name])) ^ set(map(str, before[name])))
            else:
                changed[name] = [before[name], after[name]]
    return {"module": module, "changed": changed}


def main(modules: list[str]) -> None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for name in THIRD_PARTY:
        __import__(name)
    for module in modules:
        read, write = os.pipe()
        child = os.fork()
        if child == 0:
            os.close(read)
            with os.fdopen(write, "w") as out:
                out.write(json.dumps(probe(module, root)))
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as result:
            line = result.read()
        os.waitpid(child, 0)
        print(line or json.dumps({"module": module, "error": "the probe died"}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
