#!/usr/bin/env bash
# check-sam-build.sh [LOGICAL_ID...]   (default: all six)
#
# For each function: `make build-<LogicalId> ARTIFACTS_DIR=<fresh dir>` from the
# project root, then check that `bootstrap` is executable, that ldd resolves
# every dependency either to glibc's own libraries or to a file inside
# ARTIFACTS_DIR, and that no file needs a glibc symbol version newer than
# Amazon Linux 2023's 2.34. Exit 0 only when every check passes.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ids=("$@")
[ ${#ids[@]} -gt 0 ] || ids=(BookHotelFunction BookFlightFunction BookCarFunction
                             CancelHotelFunction CancelFlightFunction CancelCarFunction)
glibc_re='^(linux-vdso\.so|ld-linux-x86-64\.so|libc\.so|libm\.so|libpthread\.so|libdl\.so|librt\.so|libresolv\.so|libutil\.so|libanl\.so)'
status=0
for id in "${ids[@]}"; do
  art=$(mktemp -d)
  trap 'rm -rf "$art"' EXIT
  make -s -C "$root" "build-$id" ARTIFACTS_DIR="$art"
  if [ ! -x "$art/bootstrap" ]; then
    echo "FAIL $id: no executable bootstrap in ARTIFACTS_DIR" >&2; status=1; continue
  fi
  # Without LD_LIBRARY_PATH, as Lambda's loader would start it.
  out=$(env -u LD_LIBRARY_PATH ldd "$art/bootstrap")
  bad=0
  while read -r name arrow path _; do
    [ -n "$name" ] || continue
    if [[ $name =~ $glibc_re || $name == /lib64/ld-linux-x86-64.so.2 ]]; then continue; fi
    if [ "$arrow" != "=>" ] || [ "$(dirname "$path")" != "$art" ]; then
      echo "FAIL $id: $name resolves to '$path', outside ARTIFACTS_DIR" >&2; bad=1
    fi
  done <<< "$out"
  newer=$(for f in "$art"/*; do objdump -T "$f" 2>/dev/null; done |
          grep -o 'GLIBC_2\.\(3[5-9]\|[4-9][0-9]\)' | sort -u | tr '\n' ' ' || true)
  if [ -n "$newer" ]; then
    echo "FAIL $id: needs glibc versions newer than 2.34: $newer" >&2; bad=1
  fi
  if [ $bad = 0 ]; then
    echo "ok $id: $(ls "$art" | wc -l) files, $(du -sh "$art" | cut -f1)"
  else
    status=1
  fi
  rm -rf "$art"
done
exit $status
