#!/usr/bin/env bash
# Installs what the build and the tests need, and only what is missing.
# Debian/Ubuntu packages with apt-get; the Python test tools (boto3, moto, awscli,
# cfn-lint) with pip only when they are absent. Asks nothing.
set -eu

pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libjansson-dev libcmocka-dev libsqlite3-dev zlib1g-dev libzstd-dev libyaml-dev libcurl4-openssl-dev libssl-dev
      libgraphviz-dev
      sqlite3 python3 python3-pip curl)
# Optional: mimalloc, the faster allocator the build links when it finds it
# (Debian 12, Ubuntu 22.04 and later); without it, glibc's malloc is used.
optional=(libmimalloc-dev)
# In CI, a browser for the console's headless check (tests/e2e/test_sfnd_console.py
# skips it without one); not for `make run`.
if [ -n "${CI:-}" ]; then optional+=(chromium); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js runs the nodejs<N>.x functions of your own SAM project (and the
# tests' project): Debian's nodejs, only when no node is on the PATH.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
missing_opt=()
for p in "${optional[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_opt+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_opt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
fi
if [ ${#missing[@]} -gt 0 ]; then
  # clang-rt-14 only exists where clang 14 is the default; skip it elsewhere.
  if ! apt-cache show libclang-rt-14-dev >/dev/null 2>&1; then
    missing=("${missing[@]/libclang-rt-14-dev}")
  fi
  echo "deps: installing ${missing[*]}" >&2
  $SUDO apt-get install -y -qq --no-install-recommends ${missing[*]} >/dev/null
fi
for p in "${missing_opt[@]}"; do
  echo "deps: installing $p (optional)" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 ||
    echo "deps: could not install $p; going on without it" >&2
done

# Python test tools: the real clients (boto3, the AWS CLI) come from Debian
# when they are missing; moto and cfn-lint (not packaged by Debian) from pip,
# best effort: the tests that need them skip with a message without them.
apt_py=()
python3 -c 'import boto3' 2>/dev/null || apt_py+=(python3-boto3)
command -v aws >/dev/null 2>&1 || apt_py+=(awscli)
if [ ${#apt_py[@]} -gt 0 ]; then
  echo "deps: installing ${apt_py[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${apt_py[@]}" >/dev/null; } ||
    python3 -m pip install -q boto3 awscli 2>/dev/null || true
fi
py_missing=()
python3 -c 'import moto' 2>/dev/null || py_missing+=("moto[server]")
command -v cfn-lint >/dev/null 2>&1 || py_missing+=(cfn-lint)
if [ ${#py_missing[@]} -gt 0 ]; then
  echo "deps: pip installing ${py_missing[*]} (optional: tests that need them skip without)" >&2
  python3 -m pip install -q "${py_missing[@]}" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages "${py_missing[@]}" 2>/dev/null ||
    echo "deps: could not install ${py_missing[*]}; continuing" >&2
fi
