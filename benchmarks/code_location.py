"""Code location load: how long `import definitions` and `dagster definitions validate` take.

    python -m benchmarks.code_location          # 7 runs per command, 3 validations
    python -m benchmarks.code_location --help

Every figure comes from a fresh interpreter, as the webserver, the daemon and every run
worker start one. The environment points at a scratch project under benchmarks/results/, so
nothing is created in data/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, print_table, scratch_project

TARGET_SECONDS = 3.0
HEAVY_LIBRARIES = ("great_expectations", "mlflow", "sklearn", "matplotlib", "boto3")
PROJECT_PACKAGES = {"definitions", "main_job", "ml_assets", "resources", "toar_assets", "checks", "sensors"}
BIN = Path(sys.executable).parent


def wall_seconds(command: list[str]) -> float:
    """Wall time of one run of ``command``, which must succeed."""
    start = time.perf_counter()
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({finished.returncode}):\n{finished.stderr[-3000:]}")
    return seconds


@dataclass
class ImportLine:
    module: str
    self_us: int
    cumulative_us: int
    depth: int
    imported_by: str = ""  # the module whose import triggered this one ("" at the top)


def parse_importtime(text: str) -> list[ImportLine]:
    """``python -X importtime`` output as lines with their importer. Children are printed
    before their parent, one indentation step deeper, so the parent of a line is the next
    line that is less indented."""
    lines = []
    for raw in text.splitlines():
        if not raw.startswith("import time:") or "imported package" in raw:
            continue
        self_us, cumulative_us, name = raw[len("import time:") :].split("|", 2)
        stripped = name.lstrip()
        lines.append(ImportLine(stripped, int(self_us), int(cumulative_us), (len(name) - len(stripped) - 1) // 2))
    pending: list[ImportLine] = []  # lines still waiting for their parent, deepest last
    for line in lines:
        while pending and pending[-1].depth > line.depth:
            pending.pop().imported_by = line.module
        pending.append(line)
    return lines


def is_reported(module: str) -> bool:
    """Project modules by full name; third-party packages by their top-level name; no stdlib."""
    top = module.split(".")[0]
    if top in PROJECT_PACKAGES:
        return True
    return "." not in module and top not in sys.stdlib_module_names and not top.startswith("_")


def import_chain(lines: list[ImportLine], module: str) -> str:
    """Who imported ``module``: the chain up to the top-level import, outermost first."""
    by_name = {line.module: line for line in lines}
    chain = [module]
    while by_name.get(chain[-1]) and by_name[chain[-1]].imported_by:
        chain.append(by_name[chain[-1]].imported_by)
    return " <- ".join(chain)


@dataclass
class Timed:
    label: str
    command: list[str]
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        ordered = sorted(self.seconds)
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.code_location",
        description=(
            "Time loading the code location in fresh interpreters: `python -c 'import definitions'` "
            "against `python -c 'import dagster'` and an empty interpreter, the biggest imports "
            "(python -X importtime), which heavy libraries stay unloaded, and `dagster definitions "
            f"validate -m definitions`. Target: import definitions under {TARGET_SECONDS:g} s (median)."
        ),
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per import command (default %(default)s)")
    parser.add_argument(
        "--validations", type=int, default=3, help="timed runs of dagster definitions validate (default %(default)s)"
    )
    parser.add_argument("--top", type=int, default=10, help="imports listed by cumulative time (default %(default)s)")
    args = parser.parse_args(argv)

    python = sys.executable
    imports = [
        Timed("python -c pass (interpreter start)", [python, "-c", "pass"]),
        Timed("python -c 'import dagster'", [python, "-c", "import dagster"]),
        Timed("python -c 'import definitions'", [python, "-c", "import definitions"]),
    ]
    validate = Timed(
        "dagster definitions validate -m definitions",
        [str(BIN / "dagster"), "definitions", "validate", "-m", "definitions"],
    )

    with scratch_project("code_location", bucket=RESULTS / "code_location" / "openaq-mirror"):
        for timed in (*imports, validate):
            wall_seconds(timed.command)  # warm-up: byte-code caches and the page cache
        # Round-robin, so a burst of background load does not land on one command only.
        for _ in range(args.repeats):
            for timed in imports:
                timed.seconds.append(wall_seconds(timed.command))
        for _ in range(args.validations):
            validate.seconds.append(wall_seconds(validate.command))

        probe = subprocess.run(
            [
                python,
                "-c",
                "import json, sys, time\n"
                "start = time.perf_counter()\n"
                "import definitions\n"
                "print(json.dumps({'seconds': time.perf_counter() - start, 'modules': sorted(sys.modules)}))",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        loaded = json.loads(probe.stdout.splitlines()[-1])
        profile = subprocess.run(
            [python, "-X", "importtime", "-c", "import definitions"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        lines = parse_importtime(profile.stderr)

    dagster_median = imports[1].median
    print(
        f"\nCode location load, fresh interpreters ({args.repeats} runs per import command after one warm-up, "
        f"{args.validations} validations)"
    )
    print_table(
        ["command", "median s", "min s", "max s", "ratio to import dagster"],
        [[t.label, t.median, min(t.seconds), max(t.seconds), t.median / dagster_median] for t in (*imports, validate)],
    )
    print(
        f"(import definitions measured inside the interpreter: {loaded['seconds']:.3f} s; "
        f"{len(loaded['modules'])} modules loaded)"
    )

    print(
        "\nBiggest imports of `import definitions` (python -X importtime, one run; cumulative includes what they import)"
    )
    reported = sorted((line for line in lines if is_reported(line.module)), key=lambda line: -line.cumulative_us)
    print_table(
        ["module", "cumulative ms", "self ms", "imported by"],
        [
            [line.module, line.cumulative_us / 1000, line.self_us / 1000, line.imported_by or "-"]
            for line in reported[: args.top]
        ],
    )

    print("\nHeavy libraries after `import definitions`:")
    modules = set(loaded["modules"])
    eager = [name for name in HEAVY_LIBRARIES if name in modules]
    for name in HEAVY_LIBRARIES:
        print(f"  {name:20s} {'LOADED via ' + import_chain(lines, name) if name in modules else 'not loaded'}")

    import_median = imports[2].median
    ok = import_median < TARGET_SECONDS
    print(
        f"\n{'PASS' if ok else 'FAIL'}: import definitions takes {import_median:.2f} s (median, "
        f"{import_median / dagster_median:.2f}x import dagster); target < {TARGET_SECONDS:g} s; "
        f"heavy libraries loaded eagerly: {', '.join(eager) if eager else 'none'}; "
        f"dagster definitions validate succeeded in {validate.median:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
