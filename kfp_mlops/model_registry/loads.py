"""The check every alias move by hand makes first: the version loads as the registry records it."""

from collections.abc import Callable


def check_loads(model: str, version: int, refused: Callable[[str], Exception]) -> None:
    """Refuse a version whose file is not the recorded one or names an untrusted type.

    Loads it through the one loader (signature, sha256, class list); `refused(why)` is the
    error raised, saying what the move was and that nothing changed.
    """
    from components._shared.errors import ConfigError, DataError
    from components._shared.registry.champion import load_version

    try:
        load_version(model, version)
    except (DataError, ConfigError) as exc:  # ModelTrustError is a DataError
        raise refused(str(exc)) from None
