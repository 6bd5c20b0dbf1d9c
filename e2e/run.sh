#!/usr/bin/env bash
# make e2e: the compiled specs in real containers. Starts Docker if needed, makes a base image
# without any registry (debootstrap + docker import), builds the project image on it from the
# locked wheels, then runs compiled/training.yaml and compiled/monitoring.yaml with
# kfp.local.DockerRunner against the embedded stack; also builds the MLflow server image and
# checks it serves and proxies artifacts to S3 (tests/e2e, marker e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
export MLFLOW_DISABLE_TELEMETRY=true
# The compiled specs name the image under the default registry: build exactly that tag.
unset KFP_MLOPS_REGISTRY

BASE=${E2E_BASE_IMAGE:-kfp-mlops-base:bookworm}
START=$SECONDS
step() { printf '\n== e2e [%s, +%ss] %s\n' "$(date +%T)" "$((SECONDS - START))" "$*"; }

step "Docker daemon"
e2e/dockerd.sh

step "base image $BASE (no registry)"
e2e/base-image.sh "$BASE"

build() {  # make TARGET, showing its main steps; the full log goes to a file
    local target=$1 ref=$2 t=$SECONDS
    local log=${KFP_MLOPS_HOME:-.kfp-mlops}/e2e/$target.log
    mkdir -p "$(dirname "$log")"
    make --no-print-directory "$target" BASE_IMAGE="$BASE" 2>&1 | tee "$log" |
        grep --line-buffered -E '^(wheels:|image:|Step [0-9]+/[0-9]+ : (FROM|COPY|RUN))' || {
        echo "error: make $target failed; last lines of $log:" >&2
        tail -n 30 "$log" >&2
        exit 1
    }
    docker image inspect "$ref" >/dev/null  # the build above must have made it
    echo "$ref: $(docker image inspect "$ref" --format '{{.Size}}') bytes, built in $((SECONDS - t)) s"
}
ref() { .venv/bin/python -c "from components._shared.image import $1; print($1)"; }

step "wheels and project image (BASE_IMAGE=$BASE)"
build image "$(ref IMAGE)"

step "MLflow server image"
build image-mlflow "$(ref MLFLOW_SERVER_IMAGE)"

step "compiled specs in containers (kfp.local.DockerRunner + embedded stack), MLflow image"
.venv/bin/pytest tests/e2e -m e2e -p no:cacheprovider -v -s

step "done: make e2e took $((SECONDS - START)) s"
