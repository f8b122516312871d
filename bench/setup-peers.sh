#!/usr/bin/env bash
# Install the tools that `python -m bench` compares asyncart against ("peers").
#
#   Debian: rclone, nginx, aria2, curl
#   bench/.venv-peers: mlflow, hf_transfer  (a separate venv, so MLflow's many
#   dependencies never touch the project's .venv)
#
# Idempotent: re-running only installs what is missing. Needs root (apt-get).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${ASYNCART_BENCH_PEERS_VENV:-$here/.venv-peers}"
python="${PEERS_PYTHON:-$(command -v python3)}"

apt_pkgs=(rclone nginx aria2 curl)
missing=()
for pkg in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The Debian nginx package starts a system-wide server on port 80; the benchmark
# runs its own instances, so keep the system one out of the way.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi

if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q mlflow hf_transfer

echo "== peers installed =="
for pkg in "${apt_pkgs[@]}"; do
  printf '%-12s %s\n' "$pkg" "$(dpkg-query -W -f='${Version}' "$pkg")"
done
printf '%-12s %s\n' "rclone bin" "$(rclone version | head -n1)"
printf '%-12s %s\n' "nginx bin" "$(nginx -v 2>&1)"
printf '%-12s %s\n' "aria2c bin" "$(aria2c --version | head -n1)"
printf '%-12s %s\n' "curl bin" "$(curl --version | head -n1)"
"$venv/bin/python" - <<'EOF'
from importlib.metadata import version
for dist in ("mlflow", "hf_transfer"):
    print(f"{dist + ' (venv)':<12} {version(dist)}")
EOF
echo "peers venv: $venv"
