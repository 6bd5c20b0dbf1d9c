"""The component image: its size and each component's cold start inside a container.

Needs a Docker daemon and the built image (`make e2e` or `make image` makes both).
Usage: .venv/bin/python -m benchmarks.image [--repeats N] [--only COMPONENT ...]
"""

import argparse
import json
import subprocess
import time

from benchmarks.run import RUNTIME_IMPORTS
from components._shared.image import IMAGE

# The monitoring pipeline's own components, beside the training ones benchmarks.run times.
IMPORTS = {
    **RUNTIME_IMPORTS,
    "resolve_reference": [
        "components.resolve_reference.component",
        "components.resolve_reference.core",
        "mlflow",
    ],
    "detect_drift": [
        "components.detect_drift.component",
        "components.detect_drift.core",
        "components._shared.io.sources",
        "scipy.stats",
    ],
}


def _docker_run(code: str) -> float:
    """Wall time of `docker run --rm IMAGE python3 -c CODE` (container start to exit)."""
    start = time.perf_counter()
    subprocess.run(
        ["docker", "run", "--rm", "--network", "none", IMAGE, "python3", "-c", code],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> int:
    """Print the image's size and, per component, the best-of-N cold start in a container."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(IMPORTS), help="these components")
    args = parser.parse_args()
    inspect = subprocess.run(
        ["docker", "image", "inspect", IMAGE], check=True, capture_output=True, text=True
    )
    size = json.loads(inspect.stdout)[0]["Size"]
    print(f"image {IMAGE}: {size / 1e6:.0f} MB uncompressed ({size} bytes)")
    baseline = min(_docker_run("pass") for _ in range(args.repeats))
    print(f"docker run of `python3 -c pass` (container start + bare interpreter): {baseline:.1f} s")
    print("| component | imports | docker run (s) | imports alone (s) |")
    print("|---|---|---|---|")
    for name, modules in IMPORTS.items():
        if args.only and name not in args.only:
            continue
        code = "; ".join(f"import {m}" for m in modules)
        best = min(_docker_run(code) for _ in range(args.repeats))
        shown = ", ".join(["module", "core", *modules[2:]])
        print(f"| {name} | {shown} | {best:.1f} | {best - baseline:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
