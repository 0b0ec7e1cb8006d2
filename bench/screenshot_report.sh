#!/usr/bin/env bash
# A headless screenshot of the Snakemake report (results/report.html), to check that it opens on the
# workflow's description (report/workflow.rst) without opening a browser by hand.
#
#   .venv/bin/snakemake --report results/report.html   # first build the report (make demo does)
#   bench/screenshot_report.sh [OUT.png] [REPORT.html]
#
# OUT.png defaults to bench/out/report.png, REPORT.html to results/report.html. Window size:
# $SCREENSHOT_SIZE (default 1400,1000).
#
# Installs nothing. It uses Debian's chromium when present (`command -v chromium`) and otherwise stops
# with a message saying how to install it (`apt-get install -y chromium`) and exit status 1. Chromium
# runs headless with a throw-away profile folder, no sandbox (it often runs as root in containers), no
# GPU, and with its background network traffic (updates, sync, QUIC) turned off; the report is a
# self-contained HTML file, so the screenshot needs no network.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-bench/out/report.png}
REPORT=${2:-results/report.html}
SIZE=${SCREENSHOT_SIZE:-1400,1000}

if ! command -v chromium >/dev/null 2>&1; then
  echo "screenshot_report.sh: chromium not found; install Debian's chromium (apt-get install -y chromium) and rerun" >&2
  exit 1
fi
if [ ! -f "$REPORT" ]; then
  echo "screenshot_report.sh: $REPORT not found; build it first: .venv/bin/snakemake --report $REPORT" >&2
  exit 1
fi

mkdir -p "$(dirname "$OUT")"
PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
case "$REPORT" in
  /*) URL="file://$REPORT" ;;
  *) URL="file://$PWD/$REPORT" ;;
esac
case "$OUT" in
  /*) SHOT=$OUT ;;
  *) SHOT=$PWD/$OUT ;;
esac

chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$PROFILE" --screenshot="$SHOT" --window-size="$SIZE" "$URL"

if [ ! -s "$SHOT" ]; then
  echo "screenshot_report.sh: chromium wrote no screenshot to $SHOT" >&2
  exit 1
fi
echo "screenshot: $SHOT"
