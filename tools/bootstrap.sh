#!/bin/sh
# One command from a fresh Debian machine: install what is missing, build,
# and run the main job on its embedded default.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
[ -d build ] || meson setup build
ninja -C build
exec ./build/vsml-vk train "$@"
