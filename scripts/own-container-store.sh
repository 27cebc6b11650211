#!/usr/bin/env bash
# own-container-store.sh COMMAND...: runs COMMAND with a podman image store of its own (CONTAINERS_STORAGE_CONF,
# which every podman the command starts inherits), holding at first only the local base images copied from the
# machine's store; the store is removed afterwards, whatever COMMAND's exit. `make test-slow` runs in one.
#
# Why: podman reads its whole image list for every command and looks through it for every build step's cache, and
# `podman build --layers` keeps one untagged image per step. A machine store that run after run of the slow suite
# had grown to 10,900 images took 25 s to build a COPY-only wine_cultivar image that builds in 6 s in a new store
# (`podman images -a` ran for over ten minutes), and made every test that builds, runs or pulls an image slower.
# Its own store starts small on every run and leaves the machine's as it was.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND..." >&2
  exit 2
fi
if ! command -v podman >/dev/null; then
  exec "$@"  # Docker: no podman store to keep apart
fi
if [ -n "${CONTAINERS_STORAGE_CONF:-}" ]; then
  exec "$@"  # already in a store of its own (or one the caller chose): use it
fi

driver=$(podman info --format '{{.Store.GraphDriverName}}')
store=$(mktemp -d "${TMPDIR:-/var/tmp}/mf-container-store.XXXXXX")
cat > "$store/storage.conf" <<EOF
[storage]
driver = "$driver"
graphroot = "$store/graph"
runroot = "$store/run"
EOF

# the containers first (podman unmounts their layers), then whatever is still mounted below the store, then the
# files: removing the images one by one would rewrite the image list once per image
remove_store() {
  local started=$SECONDS
  CONTAINERS_STORAGE_CONF="$store/storage.conf" podman rm -a -f -t 0 >/dev/null 2>&1 || true
  awk -v s="$store/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  if rm -rf "$store" 2>/dev/null; then
    echo "own-container-store: $store removed in $((SECONDS - started)) s"
  else
    echo "own-container-store: could not remove $store entirely" >&2
  fi
}
trap remove_store EXIT

started=$SECONDS
copied=0
for base in $("${PYTHON:-.venv/bin/python}" -m factory.adapters.local.base_image --names); do
  if podman image exists "$base"; then
    podman save "$base" | CONTAINERS_STORAGE_CONF="$store/storage.conf" podman load -q >/dev/null
    copied=$((copied + 1))
  fi
done
echo "own-container-store: $store ($driver), $copied base image(s) copied in $((SECONDS - started)) s"

export CONTAINERS_STORAGE_CONF="$store/storage.conf"
set +e
"$@"
status=$?
set -e
exit "$status"
