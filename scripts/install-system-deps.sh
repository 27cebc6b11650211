#!/usr/bin/env bash
# Installs the system packages the local stack needs, when missing: podman + runc (containers without a
# Docker daemon), skopeo (copy images between registries by digest), docker-registry (Distribution v2, the
# local dev and prod registries), debootstrap (the offline base images), qemu-user-static + binfmt-support
# (arm64 verification and the arm64 simulated device run under emulation) and chromium + chromium-driver
# (the browser tests drive Debian's headless Chromium; no browser is ever downloaded). Needs root or sudo.
set -euo pipefail
need=()
for pair in podman:podman runc:runc skopeo:skopeo docker-registry:docker-registry debootstrap:debootstrap \
            qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support \
            chromium:chromium chromedriver:chromium-driver; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  # another apt (a second checkout's set-up, unattended upgrades) may hold the lock: wait for it, not fail
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" uidmap >/dev/null
fi
# arm64 binaries run through qemu's binfmt_misc handler (registered with the F flag, so containers use it too)
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
  $SUDO update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || echo "warning: could not register qemu-aarch64 (binfmt_misc); arm64 images cannot be verified here" >&2
fi
