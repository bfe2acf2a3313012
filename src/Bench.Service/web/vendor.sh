#!/usr/bin/env bash
# Vendors the page's front-end libraries from npm into wwwroot/lib (run by the build when they are missing).
# Installs Node.js and npm from Debian first if the machine lacks them. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v npm >/dev/null 2>&1; then
  bash "$here/../../../scripts/install-debian-packages.sh" --by vendor.sh nodejs npm
fi
cd "$here"
if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund --loglevel=error >&2; else npm install --no-audit --no-fund --loglevel=error >&2; fi
mkdir -p ../wwwroot/lib
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css node_modules/uplot/LICENSE ../wwwroot/lib/
mv ../wwwroot/lib/LICENSE ../wwwroot/lib/uPlot.LICENSE
echo "vendor.sh: uPlot $(node -p "require('./node_modules/uplot/package.json').version") in wwwroot/lib" >&2
