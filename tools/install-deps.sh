#!/bin/sh
# Installs the Debian packages vsml-vk needs to build, test and run on
# lavapipe (Mesa's Vulkan on the CPU). Installs only what is missing.
set -eu
pkgs="build-essential meson ninja-build pkg-config glslang-tools libvulkan-dev
libvulkan-volk-dev libvulkan1 mesa-vulkan-drivers vulkan-validationlayers
zlib1g-dev libglfw3-dev libcairo2-dev python3 libjson-c-dev
python3-numpy python3-torch libopenblas0-pthread"
# vsml-vk viz: the text font, and the window test (Xvfb, xdotool, ImageMagick)
pkgs="$pkgs fonts-dejavu-core xvfb xdotool imagemagick"
# MPI: vsml-vk train across ranks (meson feature 'mpi') and its tests
pkgs="$pkgs libopenmpi-dev openmpi-bin"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
