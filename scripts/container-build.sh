#!/bin/sh
# The build stage of the Dockerfile, as a script the test suite also runs
# (this machine has no Docker engine): installs the build packages, builds
# tollgate and installs the binary under DESTDIR.
#   scripts/container-build.sh DESTDIR
set -eu
dest=${1:?usage: container-build.sh DESTDIR}
cd "$(dirname "$0")/.."
scripts/deps.sh build
make BUILD="${BUILD_DIR:-build/container}" all
mkdir -p "$dest/usr/local/bin"
install -m 0755 "${BUILD_DIR:-build/container}/tollgate" "$dest/usr/local/bin/tollgate"
echo "installed $dest/usr/local/bin/tollgate"
