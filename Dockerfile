# The image every pipeline component runs in (target `components`), and the MLflow tracking
# server image (target `mlflow-server`). Built from wheels collected on the host by
# `make wheels` (locked by uv.lock, hash-pinned), so the build needs no network: this is also
# how an air-gapped cluster builds it. `make image` / `make image-mlflow` pass the arguments.
#
# BASE_IMAGE: any image whose `python3` is CPython 3.11 with the venv module: the public
# python:3.11-slim, or a registry-free Debian bookworm made with debootstrap (make e2e).
ARG BASE_IMAGE=python:3.11-slim

# ---- a virtualenv at /opt/venv on the base's own python3 ----------------------------------
FROM ${BASE_IMAGE} AS venv
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
RUN python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), "BASE_IMAGE needs Python 3.11, found " + sys.version' \
    && python3 -m venv /opt/venv

# ---- components: the project's locked runtime set, then the project wheel -----------------
FROM venv AS components-build
COPY build/wheels/*.whl build/wheels/requirements-components.txt /wheels/
RUN /opt/venv/bin/pip install --no-index --find-links /wheels --require-hashes \
        -r /wheels/requirements-components.txt
COPY build/wheels/project/ /wheels/project/
RUN /opt/venv/bin/pip install --no-index --no-deps --find-links /wheels/project --require-hashes \
        -r /wheels/project/requirements.txt \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/python -c 'import kfp.dsl.executor_main, components.load_data.core' \
    && /opt/venv/bin/pip uninstall --yes --quiet pip

FROM ${BASE_IMAGE} AS components
RUN groupadd --gid 10001 kfp && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/kfp --shell /usr/sbin/nologin kfp
COPY --from=components-build /opt/venv /opt/venv
# The lightweight component command is `python3 -m kfp.dsl.executor_main`: python3 on PATH is
# the venv's, which has kfp, so a pod never pip-installs at start.
ENV PATH=/opt/venv/bin:$PATH \
    MLFLOW_DISABLE_TELEMETRY=true \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/kfp
USER 10001:10001
WORKDIR /home/kfp
# `kfp-mlops serve ... --host 0.0.0.0` as a KServe custom predictor: KServe's port.
EXPOSE 8080
ARG IMAGE_REF=unknown
ARG GIT_COMMIT=unknown
# Lineage: register_model records both on every model version it registers.
ENV KFP_MLOPS_IMAGE=${IMAGE_REF} KFP_MLOPS_GIT_COMMIT=${GIT_COMMIT}
ARG VERSION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/kfp-mlops/kfp-mlops
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="kfp-mlops" \
      org.opencontainers.image.description="Kubeflow Pipelines components of kfp-mlops: validation, training, evaluation, fairness, registry, drift" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

# ---- mlflow-server: full mlflow + boto3 (S3 artifact proxy), same lock --------------------
FROM venv AS mlflow-build
COPY build/wheels/*.whl build/wheels/requirements-mlflow.txt /wheels/
RUN /opt/venv/bin/pip install --no-index --find-links /wheels --require-hashes \
        -r /wheels/requirements-mlflow.txt \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/python -c 'import mlflow.server, boto3' \
    && /opt/venv/bin/pip uninstall --yes --quiet pip

FROM ${BASE_IMAGE} AS mlflow-server
RUN groupadd --gid 10001 mlflow && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/mlflow --shell /usr/sbin/nologin mlflow
COPY --from=mlflow-build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    MLFLOW_DISABLE_TELEMETRY=true \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/mlflow
USER 10001:10001
WORKDIR /home/mlflow
EXPOSE 5000
# Listens on 127.0.0.1 unless told otherwise: a cluster manifest passes --host and the stores.
CMD ["mlflow", "server", "--port", "5000"]
ARG VERSION=unknown
ARG GIT_COMMIT=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/kfp-mlops/kfp-mlops
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="kfp-mlops-mlflow" \
      org.opencontainers.image.description="MLflow tracking server (mlflow + boto3) from the kfp-mlops lock" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
