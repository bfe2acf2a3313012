#!/usr/bin/env bash
# Installs the Debian packages named that are missing (apt-get, through sudo when not root), quietly, updating the
# package lists only if a first attempt fails. Idempotent: prints nothing and installs nothing when all are present.
# Usage: scripts/install-debian-packages.sh [--by NAME] PACKAGE...   (NAME prefixes the "installing" line)
set -euo pipefail
by="install-debian-packages.sh"
if [[ "${1:-}" == "--by" ]]; then by="$2"; shift 2; fi
missing=()
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
((${#missing[@]})) || exit 0
echo "$by: installing ${missing[*]}" >&2
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y "${missing[@]}" >/dev/null 2>&1 || {
  $SUDO apt-get update >/dev/null
  $SUDO apt-get install -y "${missing[@]}"
}
