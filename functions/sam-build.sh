#!/usr/bin/env bash
# sam-build.sh LOGICAL_ID ARTIFACTS_DIR
#
# Builds one function's `bootstrap` for Lambda (provided.al2023, x86_64) and
# makes it self-contained apart from glibc: the binary is linked with
# DT_RPATH=$ORIGIN (a dedicated build in out/sam, SFN_SAM_RPATH=ON), and every
# shared library `ldd` shows that is not part of glibc is copied beside it.
# glibc itself must come from the system: its parts are tied to each other by
# private symbols, so mixing Debian's with Amazon Linux's would break.
set -euo pipefail

id=${1:?logical id}
art=${2:?artifacts dir}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SFN_SAM_BUILD_DIR:-$root/out/sam}

# glibc's own libraries: what provided.al2023 supplies.
glibc_re='^(linux-vdso\.so|ld-linux-x86-64\.so|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libresolv\.so|libutil\.so|libanl\.so)'

# In `sam build -u` the build runs in the provided.al2023 build image:
# install the headers we need there (nothing is installed anywhere else).
if ! pkg-config --exists jansson sqlite3 libcurl 2>/dev/null || ! command -v cmake >/dev/null; then
  if [ -r /etc/os-release ] && grep -q '^ID="\?amzn' /etc/os-release && command -v dnf >/dev/null &&
     [ "$(id -u)" = 0 ]; then
    echo "sam-build: installing build dependencies with dnf" >&2
    dnf install -y -q cmake gcc make pkgconf-pkg-config jansson-devel libcurl-devel sqlite-devel >&2
  else
    echo "sam-build: need cmake and the jansson, sqlite3 and libcurl development files" >&2
    exit 1
  fi
fi

# A build dir configured for another source path (a copied tree) is useless.
if [ -f "$build/CMakeCache.txt" ] &&
   ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$root/functions\$" "$build/CMakeCache.txt"; then
  rm -rf "$build"
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root/functions" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSFN_SAM_RPATH=ON \
        -DSFN_BIN_DIR="$build/bin" >/dev/null
fi
cmake --build "$build" --target "$id" -j2 >/dev/null

mkdir -p "$art"
install -m 0755 "$build/bin/functions/$id/bootstrap" "$art/bootstrap"

# Copy every non-glibc library, under the name the loader asks for.
ldd "$build/bin/functions/$id/bootstrap" | while read -r name arrow path _; do
  [ "$arrow" = "=>" ] || continue
  if [[ $name =~ $glibc_re ]]; then continue; fi
  if [ ! -f "$path" ]; then echo "sam-build: $name not found" >&2; exit 1; fi
  install -m 0644 "$path" "$art/$name"
done

# Lambda's provided.al2023 has glibc 2.34; this machine may have a newer one.
newer=$(for f in "$art"/*; do objdump -T "$f" 2>/dev/null; done |
        grep -o 'GLIBC_2\.\(3[5-9]\|[4-9][0-9]\)' | sort -u | tr '\n' ' ' || true)
if [ -n "$newer" ]; then
  echo "sam-build: warning: $id needs glibc symbol versions newer than AL2023's 2.34: $newer" >&2
fi
echo "sam-build: $id -> $art/bootstrap" >&2
