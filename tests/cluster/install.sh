#!/usr/bin/env bash
# Install a single-node SLURM (controller, node daemon, accounting daemon) from Debian packages.
#
# Debian 12: slurm-wlm 22.05 + munge (authentication) + slurmdbd and mariadb-server (accounting:
# without it `sacct` fails and snakemake-executor-plugin-slurm's status query hangs). Must run as
# root. Idempotent: does nothing when the daemons are already installed. Daemons are NOT started
# here (no systemd is assumed; tests/cluster/start.sh starts them by hand).
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: must run as root (it installs Debian packages)" >&2
    exit 1
fi
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v slurmdbd >/dev/null \
    && command -v munged >/dev/null && command -v mariadbd >/dev/null; then
    echo "install.sh: slurm, munge and mariadb already installed"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Packages must not try to start services (there may be no init system to start them with).
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -q
apt-get install -y -q --no-install-recommends \
    slurm-wlm slurmdbd munge mariadb-server mariadb-client procps iproute2
echo "install.sh: done"
