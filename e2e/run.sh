#!/usr/bin/env bash
# make e2e: the compiled specs in real containers. Starts Docker if needed, makes a base image
# without any registry (debootstrap + docker import), builds the project image on it from the
# locked wheels, then runs compiled/training.yaml and compiled/monitoring.yaml with
# kfp.local.DockerRunner against the embedded stack (tests/e2e, marker e2e).
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

step "wheels and project image (BASE_IMAGE=$BASE)"
t=$SECONDS
LOG=${KFP_MLOPS_HOME:-.kfp-mlops}/e2e/image-build.log
mkdir -p "$(dirname "$LOG")"
make --no-print-directory image BASE_IMAGE="$BASE" 2>&1 | tee "$LOG" |
    grep --line-buffered -E '^(wheels:|image:|Step [0-9]+/[0-9]+ : (FROM|COPY|RUN))' || {
    echo "error: the image build failed; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
}
IMAGE=$(.venv/bin/python -c 'from components._shared.image import IMAGE; print(IMAGE)')
docker image inspect "$IMAGE" >/dev/null  # the build above must have made it
echo "image $IMAGE: $(docker image inspect "$IMAGE" --format '{{.Size}}') bytes, $((SECONDS - t)) s"

step "compiled specs in containers (kfp.local.DockerRunner + embedded stack)"
.venv/bin/pytest tests/e2e -m e2e -p no:cacheprovider -v -s

step "done: make e2e took $((SECONDS - START)) s"
