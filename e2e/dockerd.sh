#!/usr/bin/env bash
# Make sure a Docker daemon answers: use a running one, or install Debian's docker.io (when no
# dockerd exists) and start dockerd in the background as root. Storage: overlay2, or vfs where
# the kernel refuses overlay2. The daemon keeps running afterwards (stop it with
# `kill $(cat /var/run/docker.pid)`).
set -euo pipefail

LOG_DIR=${KFP_MLOPS_HOME:-.kfp-mlops}/docker
WAIT_S=${DOCKERD_WAIT_S:-60}

if docker info >/dev/null 2>&1; then
    echo "docker: the daemon already answers"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "error: no Docker daemon answers and starting one needs root;" \
        "start Docker yourself (or run make e2e as root)" >&2
    exit 2
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "docker: no dockerd found; installing Debian's docker.io with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

mkdir -p "$LOG_DIR"
LOG=$(cd "$LOG_DIR" && pwd)/dockerd.log

start() {  # start dockerd with a storage driver; succeed once `docker info` answers
    local driver=$1 waited=0
    echo "docker: starting dockerd (storage driver $driver, log $LOG)"
    setsid dockerd --storage-driver="$driver" >>"$LOG" 2>&1 </dev/null &
    local pid=$!
    until docker info >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "docker: dockerd ($driver) exited; last log lines:" >&2
            tail -n 5 "$LOG" >&2
            return 1
        fi
        if [ "$waited" -ge "$WAIT_S" ]; then
            echo "docker: dockerd ($driver) did not answer in ${WAIT_S} s; stopping it" >&2
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "docker: dockerd answers after ${waited} s (pid $pid)"
}

start overlay2 || start vfs || {
    echo "error: dockerd did not start with overlay2 or vfs; see $LOG" >&2
    exit 1
}
