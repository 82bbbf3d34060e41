"""What a job pays before it works: each stage module's import time beside `import torch`'s, and `qaclims --help`.

Every figure comes from a fresh interpreter (one subprocess per import), as each workflow job starts one. An
import's figures are the wall and CPU seconds of the import statement alone (CPU seconds vary less on a machine
that others share); `qaclims --help` is the whole command, interpreter start-up included. The median of --repeats
runs is printed, with whether the stage pulled in torch, open_clip or transformers (only the stages that encode
with CLIP or BLIP need the last two).

    python benchmarks/startup.py
    python benchmarks/startup.py --repeats 1 --stages train-ritc eval-cam
    PYTHONPATH=/path/to/other/checkout python benchmarks/startup.py    # the same figures of another checkout
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

from qaclims.cli import STAGES

# Run in the child: the import's wall time, and which of the heavy libraries it loaded.
IMPORT_PROBE = """
import json, sys, time
start, cpu_start = time.perf_counter(), time.process_time()
import {module}
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
print(json.dumps({{"seconds": seconds, "cpu_seconds": cpu_seconds,
                  **{{name: name in sys.modules for name in ("torch", "open_clip", "transformers")}}}}))
"""


# -P: the child's working directory does not go onto sys.path ahead of PYTHONPATH, so that run from inside one
# checkout, the figures of another (PYTHONPATH) are that other's.
CHILD_PYTHON = [sys.executable, "-P"]


def timed_import(module: str) -> dict:
    completed = subprocess.run([*CHILD_PYTHON, "-c", IMPORT_PROBE.format(module=module)],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.splitlines()[-1])


def timed_help() -> float:
    start = time.perf_counter()
    subprocess.run([*CHILD_PYTHON, "-m", "qaclims", "--help"], capture_output=True, check=True)
    return time.perf_counter() - start


def median_import(module: str, repeats: int) -> dict:
    runs = [timed_import(module) for _ in range(repeats)]
    return {**runs[-1], **{key: statistics.median(run[key] for run in runs) for key in ("seconds", "cpu_seconds")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is printed")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES), metavar="STAGE",
                        help="stage commands to time (default: all)")
    args = parser.parse_args()

    help_seconds = statistics.median(timed_help() for _ in range(args.repeats))
    torch_import = median_import("torch", args.repeats)
    print(f"qaclims --help: {help_seconds:.2f} s (whole command)")
    print(f"import torch:   {torch_import['seconds']:.2f} s wall, {torch_import['cpu_seconds']:.2f} s CPU\n")
    print(f"{'stage':<16} {'wall (s)':>8} {'CPU (s)':>8} {'CPU x torch':>11}  heavy libraries")
    for name in args.stages:
        result = median_import(STAGES[name], args.repeats)
        heavy = ", ".join(library for library in ("torch", "open_clip", "transformers") if result[library]) or "-"
        print(f"{name:<16} {result['seconds']:>8.2f} {result['cpu_seconds']:>8.2f} "
              f"{result['cpu_seconds'] / torch_import['cpu_seconds']:>11.1f}  {heavy}")


if __name__ == "__main__":
    main()
