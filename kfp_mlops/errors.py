"""The tool's error types and exit codes: every command maps its errors through `exit_code_for`.

Exit codes (as in README.md): 0 succeeded and blessed (or no drift), 3 completed but a gate
rejected the model (or the data drifted), 1 failed, 2 usage error: the command, a parameter,
a flag or the configuration is wrong and the user must change what they asked for.
"""

from typing import Any

from components._shared.errors import ConfigError, KfpMlopsError, ServiceError

EXIT_BLESSED, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # the shell's code for SIGINT


class UsageError(ConfigError):
    """The command line or a parameters file is wrong (exit code 2)."""


class AuthError(ServiceError):
    """The KFP API server refused the credentials (HTTP 401/403)."""


class RunTimeout(KfpMlopsError):
    """`--wait` gave up before the run finished (the run goes on)."""


class RollbackError(KfpMlopsError):
    """There is nothing to roll back to, or the champion moved meanwhile."""


def exit_code_for(exc: BaseException) -> int:
    """The exit code of a command that ended with `exc`.

    A ConfigError (UsageError included) is the user's to fix: 2. Every other error of ours
    (DataError, ServiceError, RollbackError, ...) and an OSError is a failure: 1.
    """
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    return EXIT_FAILED


def exit_code(summary: dict[str, Any]) -> int:
    """The exit code of a finished run from its summary: 0, 3 (a gate rejected) or 1."""
    if summary["status"] != "succeeded":
        return EXIT_FAILED
    if summary.get("retrained") is False:
        return EXIT_BLESSED  # monitoring: no drift, live performance within bounds
    return EXIT_BLESSED if summary["blessed"] else EXIT_REJECTED
