#!/usr/bin/env bash
# deploy/container/build-image, for real: builds the image from this build
# with buildah (offline, from scratch), starts every program in it, then
# removes it. Skips (77) without buildah or root (its vfs storage and chroot
# isolation need root).
#   container_image_test.sh REPO BUILD_DIR
set -euo pipefail
repo="$1"
build="$2"
if ! command -v buildah > /dev/null; then echo "SKIP: no buildah (scripts/install-deps installs it)"; exit 77; fi
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: building images with vfs storage needs root"; exit 77; fi
image="localhost/expsvc-ci-test:$$"
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
trap 'buildah rmi "$image" > /dev/null 2>&1 || true' EXIT
"$repo/deploy/container/build-image" --smoke-test "$build" "$image"
buildah inspect --format '{{.OCIv1.Config.User}}' "$image" | grep -qx "10001:10001" ||
  { echo "FAIL: the image does not run as user 10001"; exit 1; }
echo "ok: $image built, every program starts, runs as 10001"
