#!/usr/bin/env bash
# Screenshot a run's report.html with headless Chromium (Debian package `chromium`).
# Usage: scripts/screenshot_report.sh runs/rotten_tomatoes [out.png]
set -euo pipefail
run_dir=$(realpath "$1")
out=${2:-$run_dir/report.png}
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1280,4000 \
  --screenshot="$out" "file://$run_dir/report.html"
rm -rf "$profile"
echo "$out"
