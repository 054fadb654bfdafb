#!/bin/sh
# Provisions a scaleset runner image (run by Packer as root; see runner.pkr.hcl). It installs
# the GitHub Actions runner in /home/runner for a `runner` user, plus what scaleset's startup
# script needs (curl, sh, sed, awk, mktemp, su, shutdown: all in the base image but curl).
# It registers nothing: scaleset starts the runner with a JIT config at boot.
set -eu

: "${RUNNER_VERSION:?set RUNNER_VERSION, e.g. 2.328.0}"
ARCH=x64
case "$(uname -m)" in
  aarch64 | arm64) ARCH=arm64 ;;
esac

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends ca-certificates curl git jq tar gzip sudo
# Optional: Docker for container jobs and actions.
apt-get install -y --no-install-recommends docker.io

# The user the runner (and every job) runs as.
if ! id runner > /dev/null 2>&1; then
  useradd --create-home --home-dir /home/runner --shell /bin/bash runner
fi
usermod -aG docker runner
# Jobs commonly need sudo; drop this line for an unprivileged runner.
echo 'runner ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/runner
chmod 0440 /etc/sudoers.d/runner

# The runner itself, in /home/runner (run.sh, config.sh, bin/).
cd /home/runner
curl -fsSL -o runner.tar.gz \
  "https://github.com/actions/runner/releases/download/v${RUNNER_VERSION}/actions-runner-linux-${ARCH}-${RUNNER_VERSION}.tar.gz"
tar xzf runner.tar.gz
rm runner.tar.gz
./bin/installdependencies.sh
chown -R runner:runner /home/runner

# A fresh image must not carry anything that identifies one runner.
rm -f /home/runner/.runner /home/runner/.credentials /home/runner/.credentials_rsaparams
apt-get clean
rm -rf /var/lib/apt/lists/*
