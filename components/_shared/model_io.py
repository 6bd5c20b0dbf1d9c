"""Model files: skops with an explicit trusted-type check, never pickle.

Loading a pickle runs arbitrary code; skops refuses unknown types unless they are named.
We name only types from the libraries a training pipeline is built from.
"""

from pathlib import Path

# Module prefixes whose types a model of ours may contain.
TRUSTED_MODULE_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


def _checked(untrusted: list[str], where: str) -> list[str]:
    foreign = [t for t in untrusted if not t.startswith(TRUSTED_MODULE_PREFIXES)]
    if foreign:
        raise ValueError(
            f"{where} contains types outside the trusted libraries {TRUSTED_MODULE_PREFIXES}: "
            f"{foreign}; refusing to load it"
        )
    return sorted(untrusted)


def trusted_types(model: object) -> list[str]:
    """The types skops needs to be told to trust for this model (checked against the allow-list)."""
    import skops.io as sio

    return _checked(sio.get_untrusted_types(data=sio.dumps(model)), "the model")


def save_model(model: object, path: str | Path) -> list[str]:
    """Save a model with skops; returns the trusted-type list it needs to load."""
    import skops.io as sio

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)
    return trusted_types(model)


def load_model(path: str | Path) -> object:
    """Load a skops model file, trusting only types from the allow-listed libraries."""
    import skops.io as sio

    trusted = _checked(sio.get_untrusted_types(file=path), str(path))
    return sio.load(path, trusted=trusted)
