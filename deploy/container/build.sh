#!/usr/bin/env bash
# Builds tandem's OCI image offline with buildah, from scratch: no registry is contacted.
#
#   deploy/container/build.sh [IMAGE]          (default: localhost/tandem:latest)
#
# The image holds tandem compiled to one binary (`bun build --compile deploy/container/entry.ts`),
# the shared libraries `ldd` names for it (glibc and the dynamic loader), /etc/passwd and
# /etc/group entries for the user it runs as (tandem, uid/gid 10001) and empty mount points.
# The config is mounted at /etc/tandem/tandem.yaml. Run it again to rebuild: the previous image
# of the same name is replaced, and a failed build leaves no working container behind.
#
# Needs: buildah (Debian: apt-get install buildah), ldd, and `npm ci` done (for node_modules/.bin/bun).
set -euo pipefail

IMAGE="${1:-localhost/tandem:latest}"
USER_ID=10001
CONFIG_DIR=/etc/tandem

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bun="$root/node_modules/.bin/bun"

say() { echo "build.sh: $*" >&2; }
fail() { say "error: $*"; exit 1; }

command -v buildah >/dev/null || fail "buildah is not installed (Debian: apt-get install buildah)"
command -v ldd >/dev/null || fail "ldd is not installed (Debian: libc-bin)"
[[ -x "$bun" ]] || fail "$bun is missing: run npm ci in $root first"

work="$(mktemp -d "${TMPDIR:-/tmp}/tandem-image.XXXXXX")"
container=""
cleanup() {
  [[ -z "$container" ]] || buildah rm "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

rootfs="$work/rootfs"
mkdir -p "$rootfs$CONFIG_DIR" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"

say "compiling tandem into one binary"
# worker.ts is a second entry point: a compiled binary holds only the modules it was given, and
# the worker threads (`workers`, one per core by default) load it by name.
"$bun" build --compile "$root/deploy/container/entry.ts" "$root/deploy/container/worker.ts" --outfile "$rootfs/tandem" >"$work/compile.log" 2>&1 \
  || { cat "$work/compile.log" >&2; fail "bun build --compile failed"; }

# Every absolute path ldd prints is a library the binary loads or the dynamic loader itself;
# cp -L copies the file a symlink names, at the path the binary asks for.
say "copying the libraries ldd names"
ldd "$rootfs/tandem" >"$work/ldd.txt" || fail "ldd cannot read the compiled binary"
! grep -q 'not found' "$work/ldd.txt" || fail "a library the binary needs is missing here: $(grep 'not found' "$work/ldd.txt")"
libraries="$(grep -o '/[^ ]*' "$work/ldd.txt" || true)"
[[ -n "$libraries" ]] || fail "ldd named no library for the compiled binary"
for library in $libraries; do
  cp -L --parents "$library" "$rootfs"
  say "  $library"
done

cat >"$rootfs/etc/passwd" <<EOF
root:x:0:0:root:/root:/sbin/nologin
tandem:x:$USER_ID:$USER_ID:tandem:/nonexistent:/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<EOF
root:x:0:
tandem:x:$USER_ID:
EOF
# glibc resolves member host names with its built-in files and dns services.
echo "hosts: files dns" >"$rootfs/etc/nsswitch.conf"

version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$root/package.json")"
revision="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"

say "assembling $IMAGE"
# The Docker format from the start: HEALTHCHECK exists only there, not in OCI's image config.
container="$(buildah from --format docker scratch)"
buildah copy --quiet "$container" "$rootfs" / >/dev/null
buildah config \
  --entrypoint '["/tandem"]' \
  --cmd "serve --config $CONFIG_DIR/tandem.yaml" \
  --user "$USER_ID:$USER_ID" \
  --workingdir "$CONFIG_DIR" \
  --port 8080/tcp --port 8443/tcp --port 8404/tcp \
  --stop-signal SIGTERM \
  --healthcheck 'CMD /tandem healthcheck http://127.0.0.1:8404/healthz' \
  --healthcheck-interval 10s --healthcheck-timeout 5s --healthcheck-start-period 5s --healthcheck-retries 3 \
  --label org.opencontainers.image.title=tandem \
  --label "org.opencontainers.image.description=Session-aware HTTP load balancer (HAProxy + keepalived + stunnel + mod_jk in one program)" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --label "org.opencontainers.image.base.name=scratch" \
  "$container"

previous="$(buildah images --quiet --no-trunc "$IMAGE" 2>/dev/null || true)"
image_id="$(buildah commit --quiet --format docker --rm "$container" "$IMAGE")"
container=""
if [[ -n "$previous" && "$previous" != *"$image_id"* ]]; then
  buildah rmi "$previous" >/dev/null 2>&1 || true
fi

size="$(buildah images --format '{{.Size}}' "$IMAGE" | head -n 1)"
say "built $IMAGE ($image_id), $size"
echo "$IMAGE"
