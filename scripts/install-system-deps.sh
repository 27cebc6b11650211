#!/usr/bin/env bash
# Installs the system packages the local stack needs, when missing: podman + runc (containers without a
# Docker daemon), skopeo (copy images between registries by digest), docker-registry (Distribution v2, the
# local dev and prod registries) and debootstrap (the offline base image). Needs root or sudo.
set -euo pipefail
need=()
for pair in podman:podman runc:runc skopeo:skopeo docker-registry:docker-registry debootstrap:debootstrap; do
  cmd=${pair%%:*}; pkg=${pair##*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing system packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" uidmap >/dev/null
