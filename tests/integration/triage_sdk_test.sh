#!/bin/sh
# triage_sdk_test.sh BUILD_DIR TEMPLATE_TEST TRIAGE SINK CC: the plugin
# template, built out of tree against the installed SDK, routes a case in a
# real vigil-triage.
#
# Installs the SDK component of BUILD_DIR into a temporary prefix, copies the
# INSTALLED template (share/vigil/plugin-template) to a scratch directory,
# builds it there with find_package(VigilPlugin) (nothing from the vigil
# source tree on any path), then runs triage_template_test with the result.
set -eu
build=$1
template_test=$2
triage=$3
sink=$4
cc=$5
scratch=$(mktemp -d "${TMPDIR:-/tmp}/vigil-triage-sdk-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix

cmake --install "$build" --prefix "$prefix" --component sdk >/dev/null
cp -r "$prefix/share/vigil/plugin-template" "$scratch/my-region"
cmake -S "$scratch/my-region" -B "$scratch/my-region/build" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$scratch/my-region/build" >/dev/null
"$template_test" "$triage" "$sink" "$scratch/my-region/build/my-region.so"
