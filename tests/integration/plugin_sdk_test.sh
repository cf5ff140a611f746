#!/bin/sh
# plugin_sdk_test.sh BUILD_DIR POLICY_TEST CC: the plugin SDK, end to end.
#
# Installs the SDK component of BUILD_DIR into a temporary prefix, copies the
# INSTALLED template (share/vigil/plugin-template) to a scratch directory and
# builds it out of tree twice: with its Makefile (pkg-config vigil-plugin)
# and with its CMakeLists.txt (find_package(VigilPlugin)). Each build must
# export exactly one dynamic symbol, vigil_plugin_descriptor, and must load
# and route the template's own cases through vigil-policy-test.
set -eu
build=$1
policy_test=$2
cc=$3
scratch=$(mktemp -d "${TMPDIR:-/tmp}/vigil-sdk-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix

cmake --install "$build" --prefix "$prefix" --component sdk >/dev/null
for f in include/vigil/plugin.h lib/pkgconfig/vigil-plugin.pc \
         lib/cmake/VigilPlugin/VigilPluginConfig.cmake \
         lib/cmake/VigilPlugin/VigilPluginConfigVersion.cmake \
         share/vigil/plugin-template/CMakeLists.txt share/vigil/plugin-template/Makefile; do
    [ -f "$prefix/$f" ] || { echo "SDK install lacks $f" >&2; exit 1; }
done

check_plugin() {
    so=$1
    exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}' | grep -v '^_' || true)
    if [ "$exported" != "vigil_plugin_descriptor" ]; then
        echo "$so exports: $exported (expected only vigil_plugin_descriptor)" >&2
        exit 1
    fi
    # The policy host refuses plugin directories writable by others.
    chmod 755 "$(dirname "$so")"
    "$policy_test" --region "$prefix/share/vigil/plugin-template/region.conf" "$so" \
        "$prefix/share/vigil/plugin-template/cases.jsonl"
}

# 1. pkg-config + make
cp -r "$prefix/share/vigil/plugin-template" "$scratch/with-make"
PKG_CONFIG_PATH=$prefix/lib/pkgconfig make -C "$scratch/with-make" CC="$cc" >/dev/null
check_plugin "$scratch/with-make/my-region.so"

# 2. find_package(VigilPlugin)
cp -r "$prefix/share/vigil/plugin-template" "$scratch/with-cmake"
cmake -S "$scratch/with-cmake" -B "$scratch/with-cmake/build" -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$scratch/with-cmake/build" >/dev/null
check_plugin "$scratch/with-cmake/build/my-region.so"
echo "SDK: template built with pkg-config and with find_package; both loaded and routed"
