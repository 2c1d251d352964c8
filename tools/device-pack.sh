#!/bin/bash
# Packs, on this machine, what tools/device-check.sh needs on a GPU machine
# that has neither the build tools nor the Vulkan loader (such as the H200
# lent through the device tool, which runs x86-64 Linux with a newer glibc):
#
#   .dev/bin/   a release build of vsml-vk (no window, no MPI) and the device
#               tests (test_state_f16 reads the learners in assets/, which
#               the working tree brings)
#   .dev/lib/   the shared libraries they load, except glibc's own
#   .dev/deb/   the Vulkan loader package (unpacked there, not installed)
#
# Then carry `.dev` with the run and call `bash tools/device-check.sh` there.
# Usage: tools/device-pack.sh [BUILD_DIR]   (default build-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-dev}
D=.dev
TESTS="test_engine_ref test_engine_pop test_es test_state_f16"

# RUNPATH $ORIGIN/../lib: the binaries load the packed libraries, and the
# programs they start (the PyTorch peer) do not inherit them
opts=(-Dbuildtype=release -Dglfw=disabled -Dmpi=disabled "-Dc_link_args=-Wl,-rpath,\$ORIGIN/../lib")
if [ -d "$B" ]; then
    meson configure "$B" "${opts[@]}" >/dev/null
else
    meson setup "$B" "${opts[@]}" >/dev/null
fi
targets=(vsml-vk)
for t in $TESTS; do targets+=("tests/$t"); done
ninja -C "$B" "${targets[@]}"

rm -rf "$D"
mkdir -p "$D/bin" "$D/lib" "$D/deb"
cp "$B/vsml-vk" "$D/bin/"
for t in $TESTS; do cp "$B/tests/$t" "$D/bin/"; done
# every library the binaries load, by resolved path; glibc's stay behind
# (the target's own are newer and backward compatible)
ldd "$D"/bin/* | awk '/=> \// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$D/lib/"; done
(cd "$D/deb" && apt-get download libvulkan1 >/dev/null 2>&1) ||
    { echo "device-pack: apt-get download libvulkan1 failed" >&2; exit 1; }
git rev-parse --short HEAD > "$D/REVISION"
[ -z "$(git status --porcelain -- src shaders include tests meson.build meson_options.txt)" ] ||
    echo "dirty" >> "$D/REVISION"
echo "packed $(du -sh "$D" | cut -f1) in $D (revision $(tr '\n' ' ' < "$D/REVISION"))"
