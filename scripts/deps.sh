#!/bin/sh
# Installs the Debian 12 packages qstack needs to build, test and run its
# demo, skipping those already present. Run as root.
set -eu

packages="gcc make pkg-config libc6-dev libssl-dev zlib1g-dev liblz4-dev
libcmocka-dev python3 python3-cryptography python3-lz4 clang
libclang-rt-14-dev
golang-github-gatherstars-com-jwz-dev"

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
	    grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "qstack: missing packages:$missing; run this as root or" \
	    "install them with apt-get" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || echo "apt-get update failed; trying the cached lists" >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
