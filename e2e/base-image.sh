#!/usr/bin/env bash
# Make a Debian bookworm base image without any container registry: debootstrap a minimal
# root filesystem (with python3 + python3-venv) from the Debian mirror apt already uses, then
# `docker import` it. Skipped when the image exists. Usage: e2e/base-image.sh [NAME]
set -euo pipefail

NAME=${1:-kfp-mlops-base:bookworm}
SUITE=bookworm

if docker image inspect "$NAME" >/dev/null 2>&1; then
    echo "base image: $NAME exists"
    exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    echo "base image: installing debootstrap with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap \
        >/dev/null || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap \
            >/dev/null
    }
fi

# The first Debian (not security) mirror apt lists for this suite: deb822 .sources first,
# then one-line .list entries; deb.debian.org when neither names one.
mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '
            /^$/ { if (uri && ok) { print uri; exit } uri = ""; ok = 0 }
            /^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { uri = $i; break } }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
            END { if (uri && ok) print uri }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '$1 == "deb" && $3 == suite && $2 !~ /security/ { print $2 }' "$f"
    done
    echo "http://deb.debian.org/debian"
}
MIRROR=$(mirror | awk 'NR == 1')  # awk reads it all: no SIGPIPE under pipefail

ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/kfp-mlops-rootfs.XXXXXX")
trap 'rm -rf "$ROOTFS"' EXIT
echo "base image: debootstrap $SUITE from $MIRROR into $ROOTFS (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || {
    tail -n 20 "$ROOTFS.log" >&2
    rm -f "$ROOTFS.log"
    exit 1
}
rm -f "$ROOTFS.log"
# Package caches are not part of an image.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

echo "base image: importing as $NAME"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap --variant=minbase $SUITE ($MIRROR)" \
    - "$NAME" >/dev/null
docker image inspect "$NAME" --format 'base image: {{.Id}} {{.Size}} bytes'
