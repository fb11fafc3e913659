#!/usr/bin/env bash
# Build the metal-mesh container image WITHOUT a registry: assemble compose/.rootfs from binaries
# cargo already built, then `docker build` compose/Dockerfile (FROM scratch) over it.
#
#   compose/build-image.sh [--release] [--tag IMAGE] [--seed FILE] [--firewall FILE]
#                          [--crds DIR]... [--host-tool PATH]... [--no-docker] [BINARY...]
#
#   --release          take the binaries from target/release instead of target/debug
#   --tag IMAGE        image name (default: $METAL_MESH_IMAGE or metal-mesh:dev)
#   --seed FILE        seed baked in as /etc/metal-api/seed.yaml (default: compose/seed.yaml)
#   --firewall FILE    Firewall baked in as /etc/rule-compiler/firewall.yaml
#                      (default: compose/firewall.yaml)
#   --crds DIR         also give kube-testserver the CRDs of DIR (*.yaml), e.g. upstream's
#                      MetalLB, Gardener or MCM CRDs: a file named as a stand-in
#                      (<group>_<plural>.yaml, upstream's naming) replaces it; repeatable
#   --host-tool PATH   also package this program of the host (with its libraries) as
#                      /usr/local/bin/<name>; repeatable. With rule-compiler, nft is added
#                      unless a tool named nft is given (from PATH or /usr/sbin/nft). With
#                      volume-manager, lvm, losetup, dash (also /bin/sh), mkdir, truncate and
#                      mknod are added the same way (required), and blkid, mkfs.ext4, mkfs.xfs,
#                      resize2fs and xfs_growfs when the host has them, plus the loop-device
#                      entrypoint compose/volume-manager-entrypoint.sh as
#                      /usr/local/bin/volume-manager-entrypoint
#   --no-docker        only assemble compose/.rootfs
#   BINARY...          binaries to package (default: metal-api metal-mesh lb-allocator
#                      rule-compiler volume-manager csi-client gardener-webhooks
#                      machine-lifecycle mesh-probe kube-testserver; mesh-probe is the
#                      HTTP(S) GET probe of compose's healthchecks and the chart's `helm test`
#                      Pods, kube-testserver compose's Kubernetes API, with the CRDs that
#                      crdgen writes (the project's and the stand-ins for upstream's) in
#                      /etc/kube-testserver/crds; /etc/metal-mesh/kubeconfig points at it)
#
# Needs: the binaries built (`cargo build --bin metal-api --bin metal-mesh --bin lb-allocator
# --bin rule-compiler --bin volume-manager --bin csi-client --bin gardener-webhooks
# --bin machine-lifecycle --bin mesh-probe --bin kube-testserver --bin crdgen`),
# nft for rule-compiler (apt-get install nftables),
# lvm for volume-manager (apt-get install lvm2; losetup: mount or util-linux), ldd, objcopy
# (binutils), readelf, and a reachable Docker daemon. Honours CARGO_TARGET_DIR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
profile=debug
tag="${METAL_MESH_IMAGE:-metal-mesh:dev}"
seed="$here/seed.yaml"
firewall="$here/firewall.yaml"
docker_build=1
bins=()
tools=()
crd_dirs=()

die() { echo "build-image.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --release) profile=release ;;
        --tag) [ $# -ge 2 ] || die "--tag needs a value"; tag="$2"; shift ;;
        --seed) [ $# -ge 2 ] || die "--seed needs a value"; seed="$2"; shift ;;
        --firewall) [ $# -ge 2 ] || die "--firewall needs a value"; firewall="$2"; shift ;;
        --host-tool) [ $# -ge 2 ] || die "--host-tool needs a value"; tools+=("$2"); shift ;;
        --crds) [ $# -ge 2 ] || die "--crds needs a value"; crd_dirs+=("$2"); shift ;;
        --no-docker) docker_build=0 ;;
        -h|--help) sed -n '2,38p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) bins+=("$1") ;;
    esac
    shift
done
[ ${#bins[@]} -gt 0 ] || bins=(metal-api metal-mesh lb-allocator rule-compiler volume-manager csi-client gardener-webhooks machine-lifecycle mesh-probe kube-testserver)

has_bin() { [[ " ${bins[*]} " == *" $1 "* ]]; }
given_tool() {
    local t
    for t in "${tools[@]}"; do [ "$(basename "$t")" = "$1" ] && return 0; done
    return 1
}
# The host's program NAME, from PATH or the usual sbin/bin directories; empty when missing.
host_program() {
    local d
    command -v "$1" 2>/dev/null && return 0
    for d in /usr/sbin /sbin /usr/bin /bin; do
        [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    return 0
}
# Packages the host's NAME unless a tool of that name was given. With a message: required
# (dies with it when missing); without: optional (skipped, with a note).
want_tool() {
    local name="$1" missing="${2:-}" path
    given_tool "$name" && return 0
    path="$(host_program "$name")"
    if [ -n "$path" ]; then
        tools+=("$path")
    elif [ -n "$missing" ]; then
        die "$missing"
    else
        echo "build-image.sh: $name not found on this host, not packaged" >&2
    fi
}

# rule-compiler applies its ruleset with nft: package the host's, unless one was given.
if has_bin rule-compiler; then
    want_tool nft "rule-compiler needs nft in the image: apt-get install nftables (or pass --host-tool PATH)"
fi

# volume-manager runs lvm (and, on the node side, blkid, mkfs.*, resize2fs, xfs_growfs); its
# compose entrypoint (a dash script) sets up a loop device with truncate, losetup and mknod.
vm_entrypoint="$here/volume-manager-entrypoint.sh"
if has_bin volume-manager; then
    want_tool lvm "volume-manager needs lvm in the image: apt-get install lvm2 (or pass --host-tool PATH)"
    want_tool losetup "volume-manager's entrypoint needs losetup: apt-get install mount (or pass --host-tool PATH)"
    want_tool dash "volume-manager's entrypoint needs dash: apt-get install dash (or pass --host-tool PATH)"
    want_tool truncate "volume-manager's entrypoint needs truncate (coreutils)"
    want_tool mknod "volume-manager's entrypoint needs mknod (coreutils)"
    want_tool mkdir "volume-manager's entrypoint needs mkdir (coreutils)"
    for t in blkid mkfs.ext4 mkfs.xfs resize2fs xfs_growfs; do want_tool "$t"; done
    [ -f "$vm_entrypoint" ] || die "$vm_entrypoint not found"
fi

for tool in ldd objcopy readelf; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install binutils libc-bin)"
done

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
bin_dir="$target_dir/$profile"
release_flag=""; [ "$profile" = release ] && release_flag=" --release"
for b in "${bins[@]}"; do
    [ -x "$bin_dir/$b" ] || die "$bin_dir/$b not found: run 'cargo build$release_flag --bin $b' first"
done
if has_bin kube-testserver; then
    [ -x "$bin_dir/crdgen" ] || die "$bin_dir/crdgen not found (it writes kube-testserver's CRDs): run 'cargo build$release_flag --bin crdgen' first"
fi
[ -f "$seed" ] || die "seed file $seed not found (pass --seed FILE)"
[ -f "$firewall" ] || die "firewall file $firewall not found (pass --firewall FILE)"
declare -A tool_names=()
for t in "${tools[@]}"; do
    [ -f "$t" ] && [ -x "$t" ] || die "host tool $t not found or not executable"
    name="$(basename "$t")"
    [ -z "${tool_names[$name]:-}" ] || die "host tool $name given twice"
    for b in "${bins[@]}"; do [ "$b" != "$name" ] || die "host tool $t has the name of binary $b"; done
    tool_names[$name]=1
done

# .rootfs/fs becomes the image's /, owned by root; .rootfs/data becomes /data and
# .rootfs/run-machine-lifecycle /run/machine-lifecycle (machine-lifecycle's gRPC socket
# directory, a named volume in compose), owned by the unprivileged user (the Dockerfile copies
# them with --chown, which needs them not to exist yet).
staging="$here/.rootfs"
rootfs="$staging/fs"
rm -rf "$staging"
mkdir -p "$rootfs"/{usr/local/bin,etc/metal-api,etc/metal-mesh,etc/rule-compiler,etc/ssl/certs,tmp} "$staging/data" \
    "$staging/run-machine-lifecycle"
chmod 1777 "$rootfs/tmp"
chmod 0755 "$staging/data" "$staging/run-machine-lifecycle"

# Copies a file (following symlinks) to the same absolute path inside the rootfs.
declare -A copied=()
copy_abs() {
    local src="$1"
    [ -n "${copied[$src]:-}" ] && return 0
    [ -e "$src" ] || die "library $src not found"
    mkdir -p "$rootfs$(dirname "$src")"
    cp -L "$src" "$rootfs$src"
    copied[$src]=1
}

# Copies the dynamic loader a program asks for (PT_INTERP), then every library ldd resolves.
copy_libs() {
    local src="$1" interp ldd_out lib
    interp="$(readelf -l "$src" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')"
    [ -z "$interp" ] || copy_abs "$interp"
    if ldd_out="$(ldd "$src" 2>&1)"; then
        if grep -q "not found" <<<"$ldd_out"; then
            die "$src: unresolved libraries:"$'\n'"$ldd_out"
        fi
        while read -r lib; do
            copy_abs "$lib"
        done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_out")
    elif [ -n "$interp" ]; then
        die "ldd $src failed:"$'\n'"$ldd_out"
    fi # else: a static binary, nothing to copy
}

for b in "${bins[@]}"; do
    src="$bin_dir/$b"
    # Debug info is most of a debug binary; symbols stay so backtraces keep their names.
    objcopy --strip-debug "$src" "$rootfs/usr/local/bin/$b"
    chmod 0755 "$rootfs/usr/local/bin/$b"
    copy_libs "$src"
done

# Host programs (nft for rule-compiler; lvm, losetup, dash, ... for volume-manager), as the host
# has them: next to the binaries, on PATH.
for t in "${tools[@]}"; do
    cp -L "$t" "$rootfs/usr/local/bin/$(basename "$t")"
    chmod 0755 "$rootfs/usr/local/bin/$(basename "$t")"
    copy_libs "$(readlink -f "$t")"
done

# volume-manager: its entrypoint (#!/bin/sh, which is the packaged dash) and mke2fs's defaults.
if has_bin volume-manager; then
    mkdir -p "$rootfs/bin"
    ln -sf /usr/local/bin/dash "$rootfs/bin/sh"
    cp "$vm_entrypoint" "$rootfs/usr/local/bin/volume-manager-entrypoint"
    chmod 0755 "$rootfs/usr/local/bin/volume-manager-entrypoint"
    [ ! -f /etc/mke2fs.conf ] || install -m 0644 /etc/mke2fs.conf "$rootfs/etc/mke2fs.conf"
fi

# kube-testserver (compose's kube-api): the project's CRDs and crdgen's stand-ins for upstream's.
if has_bin kube-testserver; then
    crds="$rootfs/etc/kube-testserver/crds"
    "$bin_dir/crdgen" --stand-ins "$crds" >/dev/null
    cp "$root"/helm/metal-mesh/crds/*.yaml "$crds/"
    for dir in "${crd_dirs[@]}"; do
        compgen -G "$dir/*.yaml" >/dev/null || die "--crds $dir: no *.yaml file there"
        cp "$dir"/*.yaml "$crds/"
        echo "build-image.sh: CRDs of $dir: $(cd "$dir" && echo *.yaml)"
    done
    chmod 0644 "$crds"/*.yaml
elif [ ${#crd_dirs[@]} -gt 0 ]; then
    die "--crds needs kube-testserver among the binaries"
fi
# How the services reach compose's Kubernetes API (the compose service kube-api); no
# credentials: kube-testserver authenticates nobody.
cat >"$rootfs/etc/metal-mesh/kubeconfig" <<'KUBECONFIG'
apiVersion: v1
kind: Config
clusters:
- name: compose
  cluster:
    server: http://kube-api:6443
contexts:
- name: compose
  context:
    cluster: compose
    user: compose
users:
- name: compose
  user: {}
current-context: compose
KUBECONFIG
chmod 0644 "$rootfs/etc/metal-mesh/kubeconfig"

cp "$seed" "$rootfs/etc/metal-api/seed.yaml"
chmod 0644 "$rootfs/etc/metal-api/seed.yaml"
cp "$firewall" "$rootfs/etc/rule-compiler/firewall.yaml"
chmod 0644 "$rootfs/etc/rule-compiler/firewall.yaml"

# Protocol and service names, as on the host: nft reads and prints "tcp", "https" through them.
for f in /etc/protocols /etc/services; do
    [ ! -f "$f" ] || cp "$f" "$rootfs$f"
done

# CA bundle for services that call HTTPS endpoints (a real metal-api, Kubernetes).
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
fi

cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/data:/sbin/nologin
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nonroot:x:65532:
GROUP
cat >"$rootfs/etc/nsswitch.conf" <<'NSS'
passwd: files
group: files
hosts: files dns
protocols: files
services: files
NSS

size="$(du -sh "$staging" | cut -f1)"
echo "build-image.sh: assembled $staging ($size) from $bin_dir: ${bins[*]}"
[ ${#tools[@]} -eq 0 ] || echo "build-image.sh: host tools: ${tools[*]}"
echo "build-image.sh: libraries: ${!copied[*]}"

[ "$docker_build" = 1 ] || exit 0

command -v docker >/dev/null || die "docker not found"
# The legacy builder needs nothing beyond the daemon; BuildKit needs the buildx plugin.
if [ -z "${DOCKER_BUILDKIT:-}" ] && ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
fi
old_id="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
docker build -t "$tag" -f "$here/Dockerfile" "$here"
new_id="$(docker image inspect -f '{{.Id}}' "$tag")"
# Drop the image this tag pointed to before, so rebuilds do not pile up dangling images.
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
fi
echo "build-image.sh: built $tag ($new_id, $(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.1f MB", $1 / 1e6 }'))"
