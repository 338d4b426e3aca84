#!/usr/bin/env bash
# Finds or fetches the ONNX Runtime C/C++ headers the custom-op library is built against, and
# prints the folder that holds onnxruntime_c_api.h on its last line.
#
# Order: $ONNXRUNTIME_ROOT (itself, include/ or include/onnxruntime), the system's
# /usr/include/onnxruntime, a previous fetch in third_party/onnxruntime/include, else the Debian
# package libonnxruntime-dev from the trixie suite, downloaded with a private apt configuration
# (nothing is installed) and unpacked into third_party/onnxruntime/ (git-ignored). The mirror is
# taken from this machine's own apt sources. The C API is ABI-stable forward, so a library built
# on these headers (1.21) runs on any newer ONNX Runtime.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dest="$repo/third_party/onnxruntime"
suite=${NORMDEPLOY_ORT_DEB_SUITE:-trixie}

has_headers() { [ -f "$1/onnxruntime_c_api.h" ] && [ -f "$1/onnxruntime_cxx_api.h" ]; }

if [ -n "${ONNXRUNTIME_ROOT:-}" ]; then
  for d in "$ONNXRUNTIME_ROOT" "$ONNXRUNTIME_ROOT/include" "$ONNXRUNTIME_ROOT/include/onnxruntime"; do
    if has_headers "$d"; then echo "$d"; exit 0; fi
  done
  echo "get_ort_headers: ONNXRUNTIME_ROOT=$ONNXRUNTIME_ROOT holds no onnxruntime_c_api.h/onnxruntime_cxx_api.h" >&2
  exit 1
fi
if has_headers /usr/include/onnxruntime; then echo /usr/include/onnxruntime; exit 0; fi
if has_headers "$dest/include"; then echo "$dest/include"; exit 0; fi

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  echo "get_ort_headers: no ONNX Runtime headers found and this is not a Debian-like system." >&2
  echo "  Set ONNXRUNTIME_ROOT to a folder with onnxruntime_c_api.h (e.g. an ONNX Runtime release)." >&2
  exit 1
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
  echo "get_ort_headers: found no Debian mirror in /etc/apt/sources.list{,.d}; set ONNXRUNTIME_ROOT." >&2
  exit 1
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
apt-get "${apt_opts[@]}" update >&2
(cd "$work" && apt-get "${apt_opts[@]}" download libonnxruntime-dev >&2)
deb=$(ls "$work"/libonnxruntime-dev_*.deb)
dpkg-deb -x "$deb" "$work/x"
rm -rf "$dest"
mkdir -p "$dest/include"
cp -r "$work/x/usr/include/onnxruntime/." "$dest/include/"
basename "$deb" > "$dest/SOURCE"
if ! has_headers "$dest/include"; then
  echo "get_ort_headers: $deb did not contain the expected headers" >&2
  exit 1
fi
echo "$dest/include"
