#!/usr/bin/env bash
# Build the litmon image with podman and check it end to end, on loopback only:
#
#   - the image builds from a locally made Debian bookworm base (no registry needed);
#   - `litmon run` in the container — non-root, read-only root filesystem, /tmp a tmpfs — stores
#     records fetched from the stand-in E-utilities server, and sends the digest to an SMTP sink
#     (when the digest code is in the image);
#   - `litmon serve` starts, writes the weekly report (when the report code is in the image),
#     `litmon health` and the image's HEALTHCHECK pass, and `podman stop` ends it with exit 0
#     after it released its lease.
#
# Usage: scripts/container-test.sh [--keep]      (--keep: leave the work directory for a look)
# Needs: root (debootstrap, rootful podman), podman, runc, debootstrap; the project's venv (or
# PYTHON=...) with aiosmtpd for the host-side servers. Exits non-zero with a message on failure.
# See /work/shared/docs/containers.md for why runc, CONTAINERS_CONF and --network host.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
[[ -x $PY ]] || PY=$(command -v python3)
IMAGE=${LITMON_TEST_IMAGE:-localhost/litmon:test}
BASE_IMAGE=${LITMON_BASE_IMAGE:-localhost/base-python:bookworm}
KEEP=0
[[ ${1:-} == --keep ]] && KEEP=1

WORK=$(mktemp -d /tmp/litmon-container-test.XXXXXX)
CONTAINER=litmon-ct-$$
PIDS=()
STARTED=$(date +%s)

say() { printf '== %s\n' "$*"; }
fail() {
    printf 'container-test: FAIL: %s\n' "$*" >&2
    if [[ -n ${LOGS:-} && -f $LOGS ]]; then
        printf -- '--- last lines of %s\n' "$LOGS" >&2
        tail -n 40 "$LOGS" >&2 || true
    fi
    exit 1
}
cleanup() {
    local rc=$?
    podman rm -f -t 0 "$CONTAINER" >/dev/null 2>&1 || true
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ $KEEP == 1 || $rc != 0 ]]; then
        echo "work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# -- podman set-up (runc; no default ulimits: setrlimit is not permitted in this sandbox) ------
for tool in podman runc; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install -y podman runc debootstrap)"
done
printf '[containers]\ndefault_ulimits = []\n' >"$WORK/containers.conf"
export CONTAINERS_CONF=$WORK/containers.conf
podman() { command podman --runtime runc "$@"; }

# -- the base image: reuse it, else debootstrap Debian bookworm from this machine's mirror ---------
debian_mirror() {
    local uri
    # deb822 sources (URIs: ...), then one-line sources (deb [opts] URI suite ...); not security.
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | grep -v security | head -n 1 || true)
    if [[ -z $uri ]]; then
        uri=$(grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
              | grep -oE '(https?|file)://[^[:space:]]+' | grep -v security | head -n 1 || true)
    fi
    printf '%s' "$uri"
}

if podman image exists "$BASE_IMAGE"; then
    say "base image $BASE_IMAGE: reusing the one in podman storage"
else
    command -v debootstrap >/dev/null || fail "debootstrap is not installed"
    [[ $(id -u) == 0 ]] || fail "building the base image needs root (debootstrap)"
    MIRROR=$(debian_mirror)
    [[ -n $MIRROR ]] || fail "no Debian mirror found in /etc/apt/sources.list*"
    say "base image $BASE_IMAGE: debootstrap bookworm from $MIRROR (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { LOGS=$WORK/debootstrap.log; fail "debootstrap failed"; }
    tar -C "$WORK/rootfs" -c . | podman import - "$BASE_IMAGE" >/dev/null \
        || fail "podman import of the base image failed"
    rm -rf "$WORK/rootfs"
fi

# -- the litmon image ---------------------------------------------------------------------------
say "building $IMAGE"
T0=$(date +%s)
# --format docker keeps HEALTHCHECK (the OCI format has no place for it).
podman build --format docker --network host -v /etc/ssl/certs:/etc/ssl/certs:ro \
    --build-arg PYTHON_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$REPO" >"$WORK/build.log" 2>&1 \
    || { LOGS=$WORK/build.log; fail "image build failed"; }
say "built in $(( $(date +%s) - T0 )) s"
[[ $(podman image inspect --format '{{.Config.User}}' "$IMAGE") != "" ]] || fail "image has no USER"
podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" | grep -q health \
    || fail "image has no HEALTHCHECK running litmon health"

has_module() {  # has_module MODULE ATTR: does the image's litmon have MODULE.ATTR?
    podman run --rm --network none "$IMAGE" python3 -c \
        "import importlib, sys; m = importlib.import_module('$1'); sys.exit(0 if hasattr(m, '$2') else 1)" \
        >/dev/null 2>&1
}

# -- servers on the host's loopback -------------------------------------------------------------
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

say "starting the stand-in E-utilities server"
(cd "$REPO" && exec "$PY" -m tests.standin.eutils --port 0 >"$WORK/eutils.out" 2>"$WORK/eutils.err") &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^EUTILS_URL=' "$WORK/eutils.out" 2>/dev/null && break; sleep 0.1; done
EUTILS_URL=$(sed -n 's/^EUTILS_URL=//p' "$WORK/eutils.out")
[[ -n $EUTILS_URL ]] || { LOGS=$WORK/eutils.err; fail "stand-in E-utilities server did not start"; }

say "starting the SMTP sink"
SMTP_PORT=$(free_port)
mkdir -p "$WORK/mail/cur" "$WORK/mail/new" "$WORK/mail/tmp"  # a Maildir
"$PY" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$WORK/mail" \
    >"$WORK/smtp.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $SMTP_PORT), 1)" 2>/dev/null && break; sleep 0.1; done

# -- volumes: data and reports writable by the image's user; feeds read-only ----------------------
mkdir -p "$WORK/data" "$WORK/reports" "$WORK/feeds"
sed 's/^recipients = .*/recipients = ["reader@example.org"]/' "$REPO/feeds/wbc-ms.toml" >"$WORK/feeds/wbc-ms.toml"
UID_GID=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
chown "${UID_GID%%:*}" "$WORK/data" "$WORK/reports" 2>/dev/null || chmod 777 "$WORK/data" "$WORK/reports"

RUN_ARGS=(
    --network host --read-only --tmpfs /tmp --user "$UID_GID"
    -v "$WORK/data:/data" -v "$WORK/reports:/reports" -v "$WORK/feeds:/app/feeds:ro"
    -e LITMON_EUTILS_URL="$EUTILS_URL" -e LITMON_NCBI_EMAIL=container-test@example.org
    -e LITMON_SMTP_HOST=127.0.0.1 -e LITMON_SMTP_PORT="$SMTP_PORT" -e LITMON_SMTP_SECURITY=none
    -e LITMON_MAIL_FROM="litmon <litmon@example.org>"
    -e LITMON_HEARTBEAT_SECONDS=2 -e LITMON_LEASE_SECONDS=10 -e LITMON_SHUTDOWN_GRACE_SECONDS=15
)
db() { "$PY" -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$WORK/data/litmon.db" "$1"; }

# -- litmon run -----------------------------------------------------------------------------------
say "litmon run (non-root, read-only root filesystem)"
LOGS=$WORK/run.log
podman run --rm "${RUN_ARGS[@]}" "$IMAGE" litmon run >"$LOGS" 2>&1 || fail "litmon run failed"
ARTICLES=$(db "SELECT count(*) FROM article")
RUNS_OK=$(db "SELECT count(*) FROM run WHERE status = 'succeeded'")
(( ARTICLES > 0 )) || fail "litmon run stored no articles"
(( RUNS_OK == 1 )) || fail "expected one succeeded run, found $RUNS_OK"
say "stored $ARTICLES articles"

if has_module monitor.digest deliver_pending || has_module monitor.mail deliver_pending \
        || has_module monitor.mail deliver_pending_for_cli; then
    SENT=$(find "$WORK/mail/new" -type f 2>/dev/null | wc -l)
    (( SENT >= 1 )) || fail "the digest code is in the image but the SMTP sink got no message"
    DIGESTS=$(db "SELECT count(*) FROM digest WHERE status = 'sent'")
    (( DIGESTS >= 1 )) || fail "$SENT message(s) received but no digest is marked sent"
    say "digest sent: $SENT message(s) at the SMTP sink, $DIGESTS digest(s) marked sent"
    DIGEST_CHECKED=yes
else
    say "SKIP digest check: no digest delivery in this build yet"
    DIGEST_CHECKED="no (not in this build)"
fi

# -- litmon serve + health ----------------------------------------------------------------------
say "litmon serve (the image's command) and litmon health"
LOGS=$WORK/serve.log
# (podman without systemd logs that it cannot set up a healthcheck timer: harmless, hidden)
podman run -d --name "$CONTAINER" "${RUN_ARGS[@]}" "$IMAGE" >/dev/null 2>>"$WORK/podman.log" \
    || fail "could not start litmon serve"
HEALTHY=no
for _ in $(seq 60); do
    if podman exec "$CONTAINER" litmon health >"$WORK/health.out" 2>&1; then HEALTHY=yes; break; fi
    [[ $(podman inspect --format '{{.State.Running}}' "$CONTAINER") == true ]] \
        || { podman logs "$CONTAINER" >"$LOGS" 2>&1; fail "litmon serve exited early"; }
    sleep 0.5
done
podman logs "$CONTAINER" >"$LOGS" 2>&1
[[ $HEALTHY == yes ]] || { cat "$WORK/health.out" >&2; fail "litmon health did not pass within 30 s"; }
podman healthcheck run "$CONTAINER" >/dev/null 2>&1 || fail "the image's HEALTHCHECK failed"
[[ $(podman exec "$CONTAINER" id -u) != 0 ]] || fail "the service runs as root"
podman exec "$CONTAINER" sh -c 'touch /app/probe' 2>/dev/null && fail "the root filesystem is writable"
say "healthy: $(tail -n 1 "$WORK/health.out")"

if has_module monitor.report write_report; then
    # serve catches up the latest weekly report slot at start: reports/<feed>/<YYYY-Www>.html
    for _ in $(seq 60); do
        find "$WORK/reports" -name '*-W*.html' | grep -q . && break
        sleep 0.5
    done
    find "$WORK/reports" -name '*-W*.html' | grep -q . || { podman logs "$CONTAINER" >"$LOGS" 2>&1; fail "serve wrote no weekly report"; }
    say "report written: $(find "$WORK/reports" -name '*-W*.html' | head -n 3 | tr '\n' ' ')"
    REPORT_CHECKED=yes
else
    say "SKIP report check: no monitor.report.write_report in this build yet"
    REPORT_CHECKED="no (not in this build)"
fi

say "podman stop (SIGTERM)"
T0=$(date +%s)
podman stop -t 30 "$CONTAINER" >/dev/null 2>>"$WORK/podman.log"
STOP_SECONDS=$(( $(date +%s) - T0 ))
podman logs "$CONTAINER" >"$LOGS" 2>&1
CODE=$(podman inspect --format '{{.State.ExitCode}}' "$CONTAINER")
[[ $CODE == 0 ]] || fail "litmon serve exited $CODE after SIGTERM"
grep -q 'lease released' "$LOGS" || fail "litmon serve did not release its lease on SIGTERM"
[[ $(db "SELECT count(*) FROM run") == 1 ]] \
    || fail "serve ran a feed again although this period had already succeeded"

say "PASS in $(( $(date +%s) - STARTED )) s — articles: $ARTICLES, digest checked: $DIGEST_CHECKED, report checked: $REPORT_CHECKED, stop: ${STOP_SECONDS} s, exit 0"
