#!/bin/sh
# Builds libmtz_c.so (release) and links Samples/c/classify against it.
#
#     Samples/c/build.sh [OUTPUT]        # default output: .build/release/classify
#
# Environment: CC (default cc), CONFIGURATION (release or debug; default release),
# SWIFT_BUILD_FLAGS (extra flags for swift build, e.g. --scratch-path DIR).
set -eu
cd "$(dirname "$0")/../.."

configuration=${CONFIGURATION:-release}
# shellcheck disable=SC2086  # SWIFT_BUILD_FLAGS is a list of flags
swift build -c "$configuration" --product mtz_c ${SWIFT_BUILD_FLAGS:-}
# shellcheck disable=SC2086
lib_dir=$(swift build -c "$configuration" --show-bin-path ${SWIFT_BUILD_FLAGS:-})
output=${1:-$lib_dir/classify}

# The rpath lets classify find libmtz_c.so where it was built; libmtz_c.so itself finds the Swift
# runtime through its own RUNPATH. An installed program would use the installation's lib dir.
${CC:-cc} -std=c11 -Wall -Wextra -Werror -pedantic -O2 \
    -I Sources/CMTZ/include Samples/c/classify.c \
    -L "$lib_dir" -lmtz_c -Wl,-rpath,"$lib_dir" \
    -o "$output"
echo "built $output"
