#!/usr/bin/env bash
# Finds or fetches the ONNX Runtime C/C++ headers the custom-op library is built against, and
# prints the folder that holds onnxruntime_c_api.h on its last line. `make headers` and the CMake
# configure step (so also `pip install .`, `pip install git+URL` and builds from an sdist) run it.
#
# Order: $ONNXRUNTIME_ROOT (itself, include/ or include/onnxruntime), the system's
# /usr/include/onnxruntime or /usr/local/include/onnxruntime, a previous fetch in
# third_party/onnxruntime/include, else the Debian package libonnxruntime-dev from the trixie suite,
# downloaded with a private apt configuration (nothing is installed) and unpacked into
# third_party/onnxruntime/ (git-ignored). The mirror is taken from this machine's own apt sources.
# The C API is ABI-stable forward, so a library built on these headers (1.21) runs on any newer
# ONNX Runtime. On failure it prints one line saying what to set or install, and exits 1.
#
# Knobs (tests use them to simulate a bare machine without touching the real cache):
#   NORMDEPLOY_ORT_CACHE=DIR          the fetch cache (default: <repo>/third_party/onnxruntime)
#   NORMDEPLOY_ORT_SYSTEM_DIRS="D .." system folders to look in (default: the two above; "" = none)
#   NORMDEPLOY_ORT_FETCH=0            never download (fail instead)
#   NORMDEPLOY_ORT_DEB_SUITE=SUITE    Debian suite to take the package from (default: trixie)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${NORMDEPLOY_ORT_CACHE:-"$repo/third_party/onnxruntime"}
suite=${NORMDEPLOY_ORT_DEB_SUITE:-trixie}
system_dirs=${NORMDEPLOY_ORT_SYSTEM_DIRS-"/usr/include/onnxruntime /usr/local/include/onnxruntime"}
hint="set ONNXRUNTIME_ROOT to a folder with onnxruntime_c_api.h and onnxruntime_cxx_api.h (an ONNX Runtime release's include/), or install libonnxruntime-dev (Debian trixie, Ubuntu 24.10+)"

has_headers() { [ -f "$1/onnxruntime_c_api.h" ] && [ -f "$1/onnxruntime_cxx_api.h" ]; }
# One line on stderr: what was tried, what failed, what to do.
fail() { echo "get_ort_headers: ONNX Runtime headers not found: $1; $hint" >&2; exit 1; }

if [ -n "${ONNXRUNTIME_ROOT:-}" ]; then
  for d in "$ONNXRUNTIME_ROOT" "$ONNXRUNTIME_ROOT/include" "$ONNXRUNTIME_ROOT/include/onnxruntime"; do
    if has_headers "$d"; then echo "$d"; exit 0; fi
  done
  echo "get_ort_headers: ONNXRUNTIME_ROOT=$ONNXRUNTIME_ROOT holds no onnxruntime_c_api.h/onnxruntime_cxx_api.h (nor its include/ or include/onnxruntime/); point it at the folder that does, or unset it" >&2
  exit 1
fi
for d in $system_dirs; do
  if has_headers "$d"; then echo "$d"; exit 0; fi
done
if has_headers "$dest/include"; then echo "$dest/include"; exit 0; fi

if [ "${NORMDEPLOY_ORT_FETCH:-1}" = 0 ]; then
  fail "not in ONNXRUNTIME_ROOT (unset), ${system_dirs:-no system folder} or $dest, and NORMDEPLOY_ORT_FETCH=0 forbids the download"
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  fail "not in ${system_dirs:-no system folder} or $dest, and this is not a Debian-like system (no apt-get/dpkg-deb) to download libonnxruntime-dev with"
fi

# The Debian mirror this machine already uses (deb822 .sources files or one-line sources.list).
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$f" | grep -E '/debian/?$' | head -n 1 || true)
  if [ -n "$uri" ]; then mirror=$uri; break; fi
done
if [ -z "$mirror" ]; then
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }' "$f" \
          | grep -E '/debian/?$' | head -n 1 || true)
    if [ -n "$uri" ]; then mirror=$uri; break; fi
  done
fi
if [ -z "$mirror" ]; then
  fail "found no Debian mirror in /etc/apt/sources.list{,.d} to download libonnxruntime-dev ($suite) from"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/etc"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
signed=""
[ -f "$keyring" ] && signed="[signed-by=$keyring] "
echo "deb ${signed}${mirror%/} $suite main" > "$work/etc/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/etc/sources.list" -o "Dir::Etc::sourceparts=-"
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root"
          -o "Debug::NoLocking=1" -q)
echo "get_ort_headers: fetching libonnxruntime-dev ($suite) from $mirror into $dest" >&2
apt-get "${apt_opts[@]}" update >&2 || fail "apt-get update of $mirror $suite failed (network or mirror; see above)"
(cd "$work" && apt-get "${apt_opts[@]}" download libonnxruntime-dev >&2) \
  || fail "downloading libonnxruntime-dev ($suite) from $mirror failed (see above)"
deb=$(ls "$work"/libonnxruntime-dev_*.deb)
dpkg-deb -x "$deb" "$work/x"
rm -rf "$dest/include"  # only what this script writes: $dest may be a folder the user named
mkdir -p "$dest/include"
cp -r "$work/x/usr/include/onnxruntime/." "$dest/include/"
basename "$deb" > "$dest/SOURCE"
has_headers "$dest/include" || fail "$(basename "$deb") did not contain onnxruntime_c_api.h and onnxruntime_cxx_api.h"
echo "$dest/include"
