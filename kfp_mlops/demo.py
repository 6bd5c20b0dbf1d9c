"""`make demo`: the training pipeline on the bundled German credit data, end to end."""

import sys
from pathlib import Path

from components._shared.io import upload_file
from kfp_mlops.cli.main import main as cli_main
from kfp_mlops.stack import DATA_BUCKET, Stack, keys

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data" / "german_credit.csv"
PARAMS = REPO / "examples" / "training-german-credit.yaml"
DATA_URI = f"s3://{DATA_BUCKET}/german_credit/german_credit.csv"


def main() -> int:
    """Start the stack (with a signing key pair), store the data, run compiled/training.yaml."""
    import os

    stack = Stack.from_env()
    stack.up()
    # The demo's registered models are signed, and every load verifies them
    # (`kfp-mlops stack env` exports the same key paths for `kfp-mlops serve`).
    keys.make(stack.home)
    os.environ.update(stack.env())
    upload_file(DATA, DATA_URI)
    print(f"stored {DATA.relative_to(REPO)} at {DATA_URI}")
    code = cli_main(
        ["run-local", "training", "--params", str(PARAMS), "-p", f"data_uri={DATA_URI}"]
    )
    print(
        "\nRun `make demo` again to see the champion/challenger comparison (the same data, "
        "parameters and code give the same model file: it is not registered twice); "
        "`.venv/bin/kfp-mlops stack down` stops the stack."
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
