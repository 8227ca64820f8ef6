#!/usr/bin/env bash
# CI job: the README's commands on a minimal Debian 12, so that a package missing from
# setup.sh's list fails CI instead of a newcomer's first run (issue 20).
#
#   .ci/minimal-debian.sh [COMMAND]     default COMMAND: ./setup.sh && ./setup.sh test quick
#
# 1. The base root: `debootstrap --variant=minbase bookworm`, kept as a tarball in the cache
#    ($LIBSTYLE_CI_CACHE, default ~/.cache/libstyle-ci: outside the clone, which CI starts
#    afresh) and rebuilt when older than $LIBSTYLE_CI_BASE_MAX_DAYS (default 30) days.
# 2. Unpacked into a temporary directory under $LIBSTYLE_CI_TMP (default /var/tmp), with
#    this repository's current commit cloned to /work/libstyle, ../shared bind-mounted
#    read-only at /work/shared (where the clone's ../shared finds it), /proc, /sys, /dev,
#    /dev/pts and a /dev/shm of its own mounted, and the cache's apt-archives directory
#    bind-mounted on /var/cache/apt/archives (downloaded .deb files are kept between runs).
# 3. Checks that setup.sh, run by a user who is neither root nor has sudo, stops with one
#    message saying what to do; then runs COMMAND in the root (chroot, as root, with a clean
#    environment, as a fresh login would have).
# Everything is unmounted and the temporary directory removed on exit, whatever happened.
# The exit status is COMMAND's (or 1 when a step before it failed).
#
# Needs root (mount, chroot), git, and a Debian mirror ($DEBIAN_MIRROR, default
# http://deb.debian.org/debian; security updates from $DEBIAN_SECURITY_MIRROR); installs
# debootstrap with apt-get when it is missing.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
command=${1:-./setup.sh && ./setup.sh test quick}
cache=${LIBSTYLE_CI_CACHE:-$HOME/.cache/libstyle-ci}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
max_days=${LIBSTYLE_CI_BASE_MAX_DAYS:-30}
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

start=$(date +%s)
step() { # step MESSAGE: the message with the minutes:seconds since the start
    local t=$(($(date +%s) - start))
    printf '== minimal-debian [%d:%02d] %s\n' $((t / 60)) $((t % 60)) "$*"
}
die() {
    echo "minimal-debian: $*" >&2
    exit 1
}

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null ||
        die "needs root (mount, chroot) and sudo is not installed: run it as root"
    exec sudo env LIBSTYLE_CI_CACHE="$cache" "$0" "$@"
fi
for tool in git mount chroot tar; do
    command -v "$tool" >/dev/null || die "needs '$tool', which is not installed"
done
if ! command -v debootstrap >/dev/null; then
    step "installing debootstrap"
    apt-get install -y -qq debootstrap >/dev/null || die "cannot install debootstrap"
fi

# The clone: the commit checked out now (changes not committed are not tested).
commit=$(git -c safe.directory='*' -C "$repo" rev-parse HEAD)
if [ -n "$(git -c safe.directory='*' -C "$repo" status --porcelain --untracked-files=no)" ]; then
    echo "minimal-debian: note: uncommitted changes are not tested (commit $commit is)"
fi

mkdir -p "$cache/apt-archives/partial"
work=$(mktemp -d "${LIBSTYLE_CI_TMP:-/var/tmp}/libstyle-ci.XXXXXX")
root=$work/root
mounts=() # mounted paths, in mounting order

mount_in() { # mount_in PATH MOUNT-ARGS...: mounts at PATH, remembered for the clean-up
    local at=$1
    shift
    mkdir -p "$at"
    mount "$@" "$at"
    mounts+=("$at")
}

# shellcheck disable=SC2317 # (run by the EXIT trap)
cleanup() {
    local status=$?
    set +e
    # Processes still running in the root (a test's leftover child) would keep it busy.
    local proc
    for proc in /proc/[0-9]*; do
        [ "$(readlink "$proc/root" 2>/dev/null)" = "$root" ] && kill -KILL "${proc#/proc/}" 2>/dev/null
    done
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
        umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" ||
            echo "minimal-debian: cannot unmount ${mounts[i]}" >&2
    done
    # Never remove through a mount (the root's /dev is the machine's /dev).
    if awk -v w="$work/" '{ if (index($5 "/", w) == 1) found = 1 } END { exit !found }' \
        /proc/self/mountinfo; then
        echo "minimal-debian: something is still mounted under $work; not removed" >&2
        status=1
    else
        rm -rf --one-file-system "$work"
    fi
    step "done, exit status $status"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. The base root, cached.
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
base=$cache/bookworm-minbase-$arch.tar.gz
if [ -f "$base" ] && [ -z "$(find "$base" -mtime +"$max_days")" ]; then
    step "base root: cached $base"
else
    step "base root: debootstrap --variant=minbase bookworm ($mirror)"
    mkdir -p "$work/base"
    debootstrap --variant=minbase --arch="$arch" bookworm "$work/base" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || {
        tail -n 20 "$work/debootstrap.log" >&2
        die "debootstrap failed (log above)"
    }
    # What an installed Debian 12 has: the release, its updates and security updates.
    cat >"$work/base/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
EOF
    rm -rf "$work/base/var/cache/apt/archives/"*.deb "$work/base/var/lib/apt/lists/"*_*
    tar -C "$work/base" -czf "$base.$$.partial" . && mv "$base.$$.partial" "$base"
    rm -rf --one-file-system "$work/base"
fi

# 2. The root for this run.
step "unpacking the root into $root"
mkdir -p "$root"
tar -C "$root" -xzf "$base"
cp -L /etc/resolv.conf "$root/etc/resolv.conf" # the mirror is reached as the machine does
git -c safe.directory='*' clone --quiet --no-checkout "$repo" "$root/work/libstyle"
git -C "$root/work/libstyle" cat-file -e "$commit^{commit}" 2>/dev/null ||
    git -C "$root/work/libstyle" fetch --quiet "$repo" "$commit"
git -C "$root/work/libstyle" checkout --quiet --detach "$commit"
step "cloned $commit"
mount_in "$root/proc" -t proc proc
mount_in "$root/sys" -t sysfs -o ro sysfs
mount_in "$root/dev" --bind /dev
mount_in "$root/dev/pts" --bind /dev/pts
mount_in "$root/dev/shm" -t tmpfs -o mode=1777,nosuid,nodev tmpfs
mount_in "$root/var/cache/apt/archives" --bind "$cache/apt-archives"
if [ -d "$repo/../shared" ]; then
    mount_in "$root/work/shared" --bind "$repo/../shared"
    mount -o remount,bind,ro "$root/work/shared"
else
    echo "minimal-debian: note: no $repo/../shared; the tests that need it will skip"
fi

in_root() { # in_root COMMAND...: COMMAND in the root, in the clone, with a fresh environment
    chroot "$root" /usr/bin/env -i HOME=/root USER=root LOGNAME=root PATH="$path" \
        /bin/bash -c 'cd /work/libstyle && "$@"' bash "$@"
}

# 3. setup.sh without root or sudo (the root has no sudo): one message saying what to do.
step "setup.sh as a user without root or sudo"
status=0
in_root setpriv --reuid=65534 --regid=65534 --clear-groups ./setup.sh \
    >"$work/nonroot.log" 2>&1 || status=$?
if [ "$status" -ne 1 ] || ! grep -q "installing them needs root" "$work/nonroot.log"; then
    cat "$work/nonroot.log" >&2
    die "setup.sh without root or sudo: exit status $status and the output above, expected" \
        "exit status 1 and a message saying what to do"
fi

step "running: $command"
status=0
in_root /bin/bash -c "$command" || status=$?
in_root apt-get autoclean -qq >/dev/null 2>&1 || true # drop .deb files the mirror no longer has
step "finished: exit status $status"
exit "$status"
