"""Every benchmark in sequence, each in a process of its own (clean memory figures, no warm caches
carried from one to the next).

    python -m bench            # the full runs (see bench/README.md for how long)
    python -m bench --smoke    # tiny sizes, a minute or so
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time

#: In the order they run; a module that is not there (yet) is skipped with a note.
BENCHMARKS = (
    "bench.phase_events",
    "bench.http_intake",
    "bench.projections",
    "bench.open_cases",
    "bench.audit",
)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    args = parser.parse_args()
    failed = []
    for module in BENCHMARKS:
        if importlib.util.find_spec(module) is None:
            print(f"== {module}: not present, skipped", flush=True)
            continue
        command = [sys.executable, "-m", module, *(["--smoke"] if args.smoke else [])]
        print(f"== {' '.join(command[1:])}", flush=True)
        began = time.perf_counter()
        code = subprocess.call(command)
        print(f"== {module}: exit {code}, {time.perf_counter() - began:.0f}s\n", flush=True)
        if code != 0:
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
