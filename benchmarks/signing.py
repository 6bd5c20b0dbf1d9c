"""The cost of signature verification at load, beside the sha256 check it comes before.

Times components/_shared/registry/signing.verify_model (the one check every registered load makes
when a public key is configured: link the signed files into a folder, hash them, verify the
ECDSA P-256 signature over the manifest, compare the signed lineage with the version's tags)
and model_io.file_sha256 (the check after it), on the demo's model (train_model's
hist_gradient_boosting with the demo parameters on data/german_credit.csv) and on a 50 MB
file. Medians of REPEATS runs, in ms; no network, no stack (the download is not timed: it is
the same with or without a signature, plus the signature's ~1 KB).

Usage: python -m benchmarks.signing [REPEATS]
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from components._shared.model_io import MODEL_FILE, file_sha256, save_model
from components._shared.registry import signing
from components._shared.settings import MODEL_PUBLIC_KEY_ENV, MODEL_SIGNING_KEY_ENV
from components.train_model.core import train

REPO = Path(__file__).resolve().parent.parent
DEMO = {"max_iter": 200, "learning_rate": 0.05}  # examples/training-german-credit.yaml
LARGE_MB = 50


def _ms(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _demo_model(folder: Path) -> None:
    frame = pd.read_csv(REPO / "data" / "german_credit.csv")
    result = train(frame, "risk", "hist_gradient_boosting", DEMO, 0.25, 42)
    save_model(result.pipeline, folder / MODEL_FILE)


def _measure(name: str, folder: Path, repeats: int) -> tuple[str, float, float, float]:
    model = folder / MODEL_FILE
    tags = {"model_sha256": file_sha256(model.read_bytes())}
    tags |= signing.sign_model(model, tags, folder)
    assert signing.verify_model(folder, tags, name)
    verify = _ms(lambda: signing.verify_model(folder, tags, name), repeats)
    sha = _ms(lambda: file_sha256(model.read_bytes()), repeats)
    return name, model.stat().st_size / 1e6, verify, sha


def main(repeats: int = 20) -> None:
    """Print verify and sha256 times side by side for the demo model and a 50 MB file."""
    with tempfile.TemporaryDirectory(prefix="kfp-mlops-bench-signing-") as tmp:
        root = Path(tmp)
        private, public = root / "key.pem", root / "key.pub"
        signing.write_key_pair(private, public)
        os.environ[MODEL_SIGNING_KEY_ENV], os.environ[MODEL_PUBLIC_KEY_ENV] = (
            str(private),
            str(public),
        )
        demo, large = root / "demo", root / "large"
        demo.mkdir()
        large.mkdir()
        _demo_model(demo)
        (large / MODEL_FILE).write_bytes(os.urandom(LARGE_MB * 1024 * 1024))
        rows = [_measure("demo model", demo, repeats), _measure(f"{LARGE_MB} MB file", large, 5)]
    print(f"signature verification at load vs the sha256 check (median ms; {os.cpu_count()} cpus)")
    print(f"{'file':<14} {'MB':>7} {'verify_model':>13} {'sha256':>8} {'verify/sha256':>14}")
    for name, size, verify, sha in rows:
        print(f"{name:<14} {size:>7.2f} {verify:>13.1f} {sha:>8.1f} {verify / sha:>14.1f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
