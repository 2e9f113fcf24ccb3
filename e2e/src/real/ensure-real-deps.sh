#!/usr/bin/env bash
# Installs what the real node and the local image builds need, from Debian's
# packages: containerd (with its CRI plugin), runc, the CNI plugins, buildah,
# skopeo, debootstrap, iptables, conntrack (kube-proxy clears UDP entries with
# it) and busybox-static (the smoke-test image). Idempotent: installs nothing
# when every command is already there. Needs root.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have containerd || need+=(containerd)
have runc || need+=(runc)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] || need+=(containernetworking-plugins)
have buildah || need+=(buildah)
have skopeo || need+=(skopeo)
have debootstrap || need+=(debootstrap)
have iptables || need+=(iptables)
have conntrack || need+=(conntrack)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
have openssl || need+=(openssl)

if [ "${#need[@]}" -eq 0 ]; then
  echo "real-node dependencies present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
echo "installed ${need[*]}"
