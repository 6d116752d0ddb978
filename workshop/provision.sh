#!/usr/bin/env bash
# Prepares a machine for the contain workshop. Idempotent: run it again at any time.
#
#   provision.sh [--vm] [--check] [REPO]
#
# REPO defaults to /workshop (the VM's synced folder), else the checkout this script is in.
# Run as root. The Vagrantfile runs it inside the workshop VM as `provision.sh --vm /workshop`;
# CI runs it on its own machine without --vm. It
#   1. installs Debian packages that are missing: busybox-static (the default rootfs),
#      git, make, iproute2 (ip, for the network steps), util-linux (unshare, nsenter);
#   2. installs Go 1.26 from go.dev into /usr/local/go, checked against a pinned sha256, ONLY
#      when no Go >= 1.26 is installed (CI has one, so CI never downloads);
#   3. builds bin/contain, bin/workshop and bin/probe (make build; in the VM as the user who
#      owns REPO, so that the learner can rebuild);
#   4. with --vm only (a machine given to the workshop; nothing here writes /etc or
#      /usr/local/bin without it): fills root's Go module and build caches, since
#      `sudo workshop check` compiles as root and the room may be offline; builds the default
#      rootfs now; puts bin/ and Go on PATH (/etc/profile.d/contain.sh) and links contain,
#      workshop and go into /usr/local/bin, where sudo's secure_path finds them;
#   5. runs bin/workshop doctor.
# --check only says what it would do, and changes nothing (it needs no root).
set -euo pipefail

# Go 1.26.4 from https://go.dev/dl/. The checksums are the ones go.dev/dl lists for these
# archives; bump the version and both checksums together.
GO_VERSION=go1.26.4
GO_SHA256_amd64=1153d3d50e0ac764b447adfe05c2bcf08e889d42a02e0fe0259bd47f6733ad7f
GO_SHA256_arm64=ef758ae7c6cf9267c9c0ef080b8965f453d89ab2d25d9eb22de4405925238768
GO_MIN_MINOR=26 # go.mod: go 1.26.0
PACKAGES=(busybox-static git make iproute2 util-linux)

vm=false
check=false
repo=
for arg in "$@"; do
  case "$arg" in
  --vm) vm=true ;;
  --check) check=true ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  -*)
    echo "provision: unknown option $arg (try --help)" >&2
    exit 2
    ;;
  *) repo=$arg ;;
  esac
done

say() { echo "provision: $*"; }
# act DESCRIPTION COMMAND...: runs the command, or with --check says it would.
act() {
  local what=$1
  shift
  if $check; then
    say "would $what"
  else
    say "$what"
    "$@"
  fi
}

is_repo() { [ -f "$1/go.mod" ] && grep -q '^module github.com/containkit/contain$' "$1/go.mod"; }

preflight() {
  if [ -z "$repo" ]; then
    repo=/workshop
    is_repo "$repo" || repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
  fi
  if ! is_repo "$repo"; then
    echo "provision: $repo is not the contain repository (no go.mod of github.com/containkit/contain)" >&2
    exit 1
  fi
  repo=$(cd "$repo" && pwd -P)
  if ! $check && [ "$(id -u)" -ne 0 ]; then
    echo "provision: run it as root (sudo bash $0 $*), or with --check to see what it would do" >&2
    exit 1
  fi
  if $vm; then say "mode: workshop VM (--vm), repository $repo"; else say "mode: this machine is not the VM (no --vm): nothing is written to /etc or /usr/local/bin; repository $repo"; fi
}

# install_packages PACKAGE...: installs the ones that are missing.
install_packages() {
  local need=() p
  for p in "$@"; do
    # Installed means "ii": dpkg -s also knows a package that was removed but not purged.
    [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || need+=("$p")
  done
  if [ ${#need[@]} -eq 0 ]; then
    say "packages: already installed: $*"
    return
  fi
  act "apt-get install ${need[*]}" apt_install "${need[@]}"
}

apt_install() {
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# go_minor GO prints the minor version of a Go 1.x toolchain ("go1.26.3" -> 26), or nothing.
go_minor() {
  # From /: inside the repository an older Go would stop at go.mod's "go 1.26.0".
  (cd / && GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null) | sed -n 's/^go1\.\([0-9][0-9]*\).*/\1/p'
}

# find_go prints the first Go >= 1.26 among /usr/local/go/bin/go and the one on PATH.
find_go() {
  local g m
  for g in /usr/local/go/bin/go "$(command -v go 2>/dev/null || true)"; do
    if [ -z "$g" ] || [ ! -x "$g" ]; then continue; fi
    m=$(go_minor "$g")
    if [ -n "$m" ] && [ "$m" -ge "$GO_MIN_MINOR" ]; then
      echo "$g"
      return
    fi
  done
}

ensure_go() {
  GO=$(find_go)
  if [ -n "$GO" ]; then
    say "go: $("$GO" version) at $GO: nothing to download"
    return
  fi
  local arch sum
  case "$(uname -m)" in
  x86_64) arch=amd64 sum=$GO_SHA256_amd64 ;;
  aarch64 | arm64) arch=arm64 sum=$GO_SHA256_arm64 ;;
  *)
    echo "provision: no pinned Go for $(uname -m): install Go >= 1.$GO_MIN_MINOR from https://go.dev/dl/ into /usr/local/go" >&2
    exit 1
    ;;
  esac
  if [ -z "$sum" ]; then
    echo "provision: no pinned sha256 for $GO_VERSION.linux-$arch: refusing to download an unchecked Go" >&2
    exit 1
  fi
  install_packages curl ca-certificates
  act "download $GO_VERSION.linux-$arch.tar.gz, check its sha256 and unpack it into /usr/local/go" \
    install_go "$GO_VERSION.linux-$arch.tar.gz" "$sum"
  GO=/usr/local/go/bin/go
}

# install_go ARCHIVE SHA256 runs in a subshell, so that its temporary directory always goes.
install_go() (
  archive=$1 sum=$2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  curl -fsSL --retry 3 -o "$tmp/$archive" "https://go.dev/dl/$archive"
  # The old Go is removed only once the new one is known to be the pinned one.
  (cd "$tmp" && echo "$sum  $archive" | sha256sum -c --strict -)
  rm -rf /usr/local/go
  tar -C /usr/local -xzf "$tmp/$archive"
  say "go: $(/usr/local/go/bin/go version)"
)

# as_owner COMMAND...: in the VM, runs the command as the user who owns the repository (the
# learner, who edits and rebuilds it); elsewhere as the current user.
as_owner() {
  local owner
  owner=$(stat -c %U "$repo")
  if $vm && [ "$owner" != "$(id -un)" ] && [ "$owner" != UNKNOWN ]; then
    runuser -u "$owner" -- "$@"
  else
    "$@"
  fi
}

build() {
  local owner
  owner=$(stat -c %U "$repo")
  $vm || owner=$(id -un)
  # GOTOOLCHAIN=local: build with this Go, never fetch another toolchain.
  act "build the binaries: make build in $repo as $owner" \
    as_owner env GOTOOLCHAIN=local make -C "$repo" build GO="$GO"
  if $vm; then
    act "fill root's Go caches (sudo workshop check compiles as root, maybe offline)" warm_root_caches
    # work/ belongs to the learner: made by root (a first `sudo workshop check`), it would
    # refuse `workshop start`.
    [ -d "$repo/work" ] || act "make $repo/work for the exercises, owned by $owner" as_owner mkdir -p "$repo/work"
  fi
}

warm_root_caches() (
  cd "$repo"
  GOTOOLCHAIN=local "$GO" mod download
  GOTOOLCHAIN=local "$GO" build ./...
)

# The default rootfs is built offline by the first container that needs it (rootfs.Default);
# `contain rootfs build DIR` makes a tree, not the marked default one. In the VM a first run
# builds it now, where a failure shows at provisioning instead of in the middle of step 04,
# and proves that containers run here. Elsewhere (CI) it is left to first use.
ensure_rootfs() {
  local dir=${CONTAIN_ROOTFS:-/var/lib/contain/rootfs}
  if ! $vm; then
    say "default rootfs: left to first use (not the VM)"
  elif [ -f "$dir/.contain-rootfs" ]; then
    say "default rootfs: $dir is already built"
  else
    act "build the default rootfs in $dir: $repo/bin/contain run -- true" "$repo/bin/contain" run -- true
  fi
}

ensure_path() {
  if ! $vm; then
    say "PATH: not changed (not the VM; pass --vm on a machine given to the workshop)"
    return
  fi
  local profile=/etc/profile.d/contain.sh
  local want="# written by $repo/workshop/provision.sh: the workshop's binaries and Go
export PATH=\"$repo/bin:/usr/local/go/bin:\$PATH\""
  if [ "$(cat "$profile" 2>/dev/null)" = "$want" ]; then
    say "PATH: $profile is up to date"
  else
    act "write $profile (bin/ and Go on PATH at login)" write_file "$profile" "$want"
  fi
  # sudo resets PATH to secure_path, which has /usr/local/bin: link the commands there.
  link /usr/local/bin/contain "$repo/bin/contain"
  link /usr/local/bin/workshop "$repo/bin/workshop"
  if [ "$GO" = /usr/local/go/bin/go ]; then
    link /usr/local/bin/go /usr/local/go/bin/go
    link /usr/local/bin/gofmt /usr/local/go/bin/gofmt
  fi
}

write_file() { printf '%s\n' "$2" >"$1"; }

# link LINK TARGET: makes LINK point to TARGET, but never replaces a file that is not a link.
link() {
  if [ "$(readlink "$1" 2>/dev/null)" = "$2" ]; then
    return
  fi
  if [ -e "$1" ] && [ ! -L "$1" ]; then
    say "left $1: it is not a link (another install?)"
    return
  fi
  act "link $1 -> $2" ln -sfn "$2" "$1"
}

run_doctor() {
  if $check; then
    say "would run $repo/bin/workshop doctor (once built)"
    return
  fi
  if [ ! -x "$repo/bin/workshop" ]; then
    say "doctor: $repo/bin/workshop was not built (no cmd/workshop yet?): skipped"
    return
  fi
  say "doctor:"
  (cd "$repo" && "$repo/bin/workshop" doctor) || say "the doctor found problems: see the ✗ lines above for their fixes"
}

preflight "$@"
install_packages "${PACKAGES[@]}"
ensure_go
build
ensure_rootfs
ensure_path
run_doctor
if $check; then say "check done: nothing was changed"; else say "done"; fi
