#!/bin/sh
# Example `engine.gcp.startup_script` hook. scaleset's own startup script runs it as root after
# it has taken the JIT config from metadata, with ACTIONS_RUNNER_INPUT_JITCONFIG set; the VM
# powers off when this script returns. Never print or store ACTIONS_RUNNER_INPUT_JITCONFIG.
set -eu

# Prepare the machine: here, a scratch directory on the local disk for the job's caches.
mkdir -p /mnt/cache
chown runner:runner /mnt/cache

# Start the runner as the default does, passing the JIT config through the environment
# (su without "-" keeps it), and wait for it: the job runs inside.
exec su runner -s /bin/sh -c 'cd /home/runner && exec ./run.sh'
