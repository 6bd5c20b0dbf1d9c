"""The embedded stack's model-signing key pair: made once in its state folder, paths exported.

`make demo` makes the pair; from then on `kfp-mlops stack env` and `run-local` export its
paths, so registration signs (components/_shared/registry/signing.py) and every load verifies.
A stack without the pair exports nothing, and loads behave as they did before signing.
"""

from pathlib import Path

from components._shared.settings import MODEL_PUBLIC_KEY_ENV, MODEL_SIGNING_KEY_ENV
from kfp_mlops.stack.service import Log


def paths(home: Path) -> tuple[Path, Path]:
    """Where a stack keeps its model-signing key pair (private, public; PEM)."""
    folder = Path(home) / "signing"
    return folder / "model-signing.key", folder / "model-signing.pub"


def make(home: Path, log: Log = print) -> None:
    """Make the stack's EC P-256 model-signing key pair, unless it has one already."""
    from components._shared.registry.signing import write_key_pair

    private, public = paths(home)
    if private.is_file() and public.is_file():
        return
    Path(home).mkdir(parents=True, exist_ok=True, mode=0o700)
    private.parent.mkdir(exist_ok=True, mode=0o700)
    write_key_pair(private, public)
    log(f"made a model-signing key pair: {private} (private), {public} (public)")


def env(home: Path) -> dict[str, str]:
    """The key paths registration signs with and loaders verify with, when the pair exists."""
    private, public = paths(home)
    if not (private.is_file() and public.is_file()):
        return {}
    return {MODEL_SIGNING_KEY_ENV: str(private), MODEL_PUBLIC_KEY_ENV: str(public)}
