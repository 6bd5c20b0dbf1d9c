"""The settings of the running local stack, for commands that need MLflow or S3.

`kfp-mlops serve`, `log-sink`, `history`, `rollback` and `drift` read MLflow and S3 from the
environment. When MLFLOW_TRACKING_URI is unset they look for the local stack the state folder
(KFP_MLOPS_HOME, default .kfp-mlops) describes, on the ports it recorded when it started, and
use it while it runs; the environment, when set, always wins.
"""

import os
import sys

from components._shared.errors import ServiceError
from components._shared.settings import MLFLOW_URI_ENV

ENV_HINT = 'eval "$(kfp-mlops stack env)"'


def _local_stack():
    """The local stack of the state folder, on the ports it recorded when it started.

    A port this shell names (KFP_MLOPS_*_PORT) wins; without them the record still finds it.
    """
    from kfp_mlops.stack import Stack

    stack = Stack.from_env()
    recorded = stack.recorded_ports()
    ports = {
        "s3_port": (stack.s3, recorded.get("seaweedfs", {}).get("port")),
        "mlflow_port": (stack.mlflow, recorded.get("mlflow", {}).get("port")),
    }
    chosen = {
        key: int(port) if port and not os.environ.get(service.port_env) else service.port
        for key, (service, port) in ports.items()
    }
    return Stack(stack.home, **chosen)


def use_local_stack(required: bool) -> None:
    """Fill in the unset service variables from the running local stack.

    Args:
        required: The command cannot work without MLflow: with no variable set and no local
            stack running, raise a ServiceError that says how to start or point at one.
    """
    if os.environ.get(MLFLOW_URI_ENV):
        return
    stack = _local_stack()
    if stack.s3.process.pid() is None or stack.mlflow.process.pid() is None:
        if required:
            raise ServiceError(
                f"MLflow is not configured: {MLFLOW_URI_ENV} is unset and no local stack runs "
                f"in {stack.home}; run `kfp-mlops stack up` here (this command then finds it), "
                f"or `{ENV_HINT}` in the folder where the stack was started"
            )
        return
    for key, value in stack.env().items():
        os.environ.setdefault(key, value)
    print(
        f"using the local stack in {stack.home} (MLflow {stack.mlflow_url}); `{ENV_HINT}` or "
        f"{MLFLOW_URI_ENV} chooses another",
        file=sys.stderr,
    )
