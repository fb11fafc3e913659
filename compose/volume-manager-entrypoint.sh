#!/bin/sh
# The volume-manager's entrypoint in the compose image (compose/volume-manager-entrypoint.sh,
# packaged by build-image.sh as /usr/local/bin/volume-manager-entrypoint; /bin/sh is dash):
#
#     volume-manager-entrypoint volume-manager [FLAG...]
#
# gives the volume-manager a loop device to create its volume group from, then runs the command
# with `--lvm-system-dir $LVM_DIR` and `--devices <loop device>` appended:
#
#   1. a sparse file pv-<uuid>.img of $LOOP_SIZE (default 2G) in $LOOP_DIR (default
#      /var/lib/volume-manager/loop, on the data volume), made once: the volume group on it
#      survives restarts with the volume. The uuid makes the name the kernel keeps for the loop
#      device unique on the host;
#   2. a loop device over it: the one already attached to that file (a restart after an unclean
#      stop), else the kernel's next free one (`losetup -f`); /dev/loop-control and the device's
#      node are made when the container's /dev lacks them (Docker gives an unprivileged
#      container neither, and a privileged one's /dev is a copy taken at its start). No tools
#      beyond dash, mkdir, truncate, mknod and losetup (the image has no others);
#   3. an lvm.conf in $LVM_DIR (default /run/volume-manager/lvm) whose filter accepts that one
#      device: lvm in here never sees, let alone changes, the host's disks and volume groups.
#      No udev, hints or monitoring (this container has none of them).
#
# Needs root with CAP_MKNOD and CAP_SYS_ADMIN, and a device cgroup that allows c 10:237
# (loop-control) and b 7:* (loop devices), as compose/docker-compose.yml gives it (or
# privileged). When a step fails the reason is logged ("no loop device: ...") and the
# volume-manager starts anyway, without devices (lvm then sees none): it serves, and /readyz
# answers 503 naming its missing volume group.
# On SIGTERM/SIGINT the volume-manager is stopped, then the loop device detached: it belongs to
# the host's kernel and would outlive the container otherwise.
set -u

loop_dir="${LOOP_DIR:-/var/lib/volume-manager/loop}"
size="${LOOP_SIZE:-2G}"
lvm_dir="${LVM_DIR:-/run/volume-manager/lvm}"
dev=""
reason=""

log() { echo "volume-manager-entrypoint: $*" >&2; }

# Makes the block device node $1 (/dev/loopN) when missing, with the numbers sysfs gives.
ensure_node() {
    [ -b "$1" ] && return 0
    numbers=""
    read -r numbers <"/sys/block/${1#/dev/}/dev" 2>/dev/null || numbers=""
    [ -n "$numbers" ] || { reason="$1 is missing and /sys/block/${1#/dev/}/dev unreadable"; return 1; }
    out="$(mknod -m 0660 "$1" b "${numbers%%:*}" "${numbers#*:}" 2>&1)" ||
        { reason="mknod $1: $out"; return 1; }
}

setup_loop() {
    # Docker gives an unprivileged container no loop-control; make it (CAP_MKNOD, and the
    # device cgroup must allow c 10:237).
    if [ ! -c /dev/loop-control ]; then
        out="$(mknod -m 0600 /dev/loop-control c 10 237 2>&1)" ||
            { reason="no /dev/loop-control and mknod failed: $out (needs CAP_MKNOD)"; return 1; }
    fi
    out="$(mkdir -p "$loop_dir" 2>&1)" || { reason="mkdir $loop_dir: $out"; return 1; }
    file=""
    for f in "$loop_dir"/pv-*.img; do
        [ -f "$f" ] && { file="$f"; break; }
    done
    if [ -z "$file" ]; then
        read -r uuid </proc/sys/kernel/random/uuid || { reason="no /proc/sys/kernel/random/uuid"; return 1; }
        file="$loop_dir/pv-$uuid.img"
        out="$(truncate -s "$size" "$file" 2>&1)" || { reason="truncate -s $size $file: $out"; return 1; }
        log "created $file ($size, sparse)"
    fi
    # The device already over this file, from sysfs (losetup only lists devices with a node in
    # /dev, and this container's /dev is new after a restart). The kernel shows a backing file
    # by its path in the mount namespace that attached it, not this one after a restart: match
    # on the file name, which is unique.
    dev=""
    for f in /sys/block/loop*/loop/backing_file; do
        back=""
        [ -r "$f" ] && read -r back <"$f"
        case "$back" in
        */"${file##*/}")
            dev="${f#/sys/block/}"
            dev="/dev/${dev%%/*}"
            break
            ;;
        esac
    done
    if [ -n "$dev" ]; then
        ensure_node "$dev" || return 1
        log "$dev is already attached to $file"
        return 0
    fi
    # Another process may take the free device between `losetup -f` and the attach: try again.
    tries=0
    while [ "$tries" -lt 5 ]; do
        tries=$((tries + 1))
        dev="$(losetup -f 2>&1)" || { reason="losetup -f: $dev"; return 1; }
        ensure_node "$dev" || return 1
        out="$(losetup "$dev" "$file" 2>&1)" && { log "attached $dev to $file"; return 0; }
        reason="losetup $dev $file: $out"
    done
    return 1
}

# lvm sees exactly the loop device, or nothing at all.
write_lvm_conf() {
    if [ -n "$dev" ]; then
        filter="[ \"a|^$dev\$|\", \"r|.*|\" ]"
    else
        filter="[ \"r|.*|\" ]"
    fi
    mkdir -p "$lvm_dir" || return 1
    printf '%s\n' \
        "# Written by volume-manager-entrypoint: lvm in this container sees ${dev:-no device} only." \
        "devices {" \
        "    filter = $filter" \
        "    global_filter = $filter" \
        "    obtain_device_list_from_udev = 0" \
        "    external_device_info_source = \"none\"" \
        "    use_devicesfile = 0" \
        "    hints = \"none\"" \
        "}" \
        "activation {" \
        "    udev_sync = 0" \
        "    udev_rules = 0" \
        "    monitoring = 0" \
        "}" \
        "global {" \
        "    use_lvmpolld = 0" \
        "}" >"$lvm_dir/lvm.conf"
}

[ $# -gt 0 ] || set -- volume-manager
if ! setup_loop; then
    log "no loop device: $reason; the volume-manager starts without devices (/readyz: 503)"
    dev=""
fi
write_lvm_conf || { log "cannot write $lvm_dir/lvm.conf"; exit 1; }
set -- "$@" --lvm-system-dir "$lvm_dir"
[ -z "$dev" ] || set -- "$@" --devices "$dev"
log "running $*"

if [ -z "$dev" ]; then
    exec "$@"
fi
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
status=0
wait "$child" || status=$?
# A trapped signal ends `wait` early: wait again until the volume-manager has exited.
while kill -0 "$child" 2>/dev/null; do
    if wait "$child"; then status=0; else status=$?; fi
done
if out="$(losetup -d "$dev" 2>&1)"; then
    log "detached $dev"
else
    log "losetup -d $dev: $out"
fi
exit "$status"
