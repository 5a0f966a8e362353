#!/usr/bin/env bash
# Installs the Debian 12 packages imapcid needs to build, test and demo,
# only those missing. Quiet and fast when everything is already there.
set -euo pipefail

build_pkgs=(gcc make git meson ninja-build pkg-config libssl-dev libevent-dev
	libargon2-dev libcrypt-dev libsqlite3-dev libcurl4-openssl-dev openssl)
test_pkgs=(libcmocka-dev python3 clang libclang-rt-14-dev clang-format
	curl isync iproute2)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
	want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null; then
		SUDO=sudo
	else
		echo "deps: run as root: apt-get install ${missing[*]}" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
