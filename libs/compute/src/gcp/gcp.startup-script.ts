import { GCP_METADATA_KEYS } from './gcp.labels';

/** Where the generated startup script reaches the metadata server and the Compute API. */
export interface StartupScriptEndpoints {
  /** Metadata server base. Default `http://metadata.google.internal/computeMetadata/v1`. */
  readonly metadataUrl?: string;
  /** Compute API base. Default `https://compute.googleapis.com/compute/v1`. */
  readonly computeApiUrl?: string;
}

/** The metadata server every GCE VM reaches without credentials. */
export const GCE_METADATA_URL = 'http://metadata.google.internal/computeMetadata/v1';
/** The public Compute API. */
export const GCE_COMPUTE_API_URL = 'https://compute.googleapis.com/compute/v1';
/** Guest attribute the script sets once it has taken the JIT config: `<namespace>/<key>`. */
export const JIT_CONSUMED_GUEST_ATTRIBUTE = 'scaleset/jit-config';
/** Its value. */
export const JIT_CONSUMED_VALUE = 'consumed';

function shellWord(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

// Written with String.raw so the shell's backslashes stay as they are; the script therefore
// avoids the shell's `${...}` form, which a template literal would take as its own.
const BODY = String.raw`
log() { echo "scaleset: $*"; }

md() {
  curl -sf --retry 5 --retry-connrefused --max-time 10 -H 'Metadata-Flavor: Google' "$MD/$1"
}

power_off() {
  log "$1; powering off"
  sync
  shutdown -h now || poweroff || halt -p
  exit 0
}

TAB=$(printf '\t')
CR=$(printf '\r')

# Reads stdin, writes it as one JSON string (newlines, quotes, backslashes, tabs escaped).
json_string() {
  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e "s/$TAB/\\\\t/g" -e "s/$CR/\\\\r/g" |
    awk 'BEGIN { printf "%s", "\"" } NR > 1 { printf "%s", "\\n" } { printf "%s", $0 } END { printf "%s", "\"" }'
}

# Removes the JIT config key from this instance's metadata through the Compute API, with the
# VM's own service account (it needs compute.instances.setMetadata on this instance).
# setMetadata replaces every item, so all other keys are copied from the metadata server and
# the write is guarded by the metadata fingerprint (412 on a concurrent change: try again).
remove_jit_key() {
  token=$(md instance/service-accounts/default/token | tr -d '\n' |
    sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
  if [ -z "$token" ]; then
    log "no service account token; scaleset removes the JIT config from metadata later"
    return 1
  fi
  project=$(md project/project-id) || return 1
  zone=$(md instance/zone) || return 1
  zone=$(basename "$zone")
  name=$(md instance/name) || return 1
  url="$API/projects/$project/zones/$zone/instances/$name"
  body="$WORK/metadata.json"
  value="$WORK/value"
  attempt=0
  while [ "$attempt" -lt 5 ]; do
    attempt=$((attempt + 1))
    fingerprint=$(curl -sf --max-time 20 -H "Authorization: Bearer $token" \
      "$url?fields=metadata%2Ffingerprint" | tr -d '\n ' |
      sed -n 's/.*"fingerprint":"\([^"]*\)".*/\1/p')
    keys=$(md instance/attributes/)
    if [ -n "$fingerprint" ] && [ -n "$keys" ]; then
      ok=1
      {
        printf '{"fingerprint":"%s","items":[' "$fingerprint"
        sep=''
        for key in $keys; do
          if [ "$key" = "$JIT_KEY" ]; then
            continue
          fi
          md "instance/attributes/$key" > "$value" || ok=0
          printf '%s{"key":"%s","value":' "$sep" "$key"
          json_string < "$value"
          printf '}'
          sep=','
        done
        printf ']}'
      } > "$body"
      rm -f "$value"
      if [ "$ok" = 1 ] && curl -sf --max-time 20 -X POST -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' --data-binary "@$body" "$url/setMetadata" > /dev/null; then
        rm -f "$body"
        return 0
      fi
      rm -f "$body"
    fi
    sleep "$attempt"
  done
  log "could not remove the JIT config from metadata; scaleset removes it later"
  return 1
}

WORK=$(mktemp -d) || power_off "cannot create a work directory"

# A used runner must never run again: after a reboot the key is gone (or marked consumed).
if [ "$(md "instance/guest-attributes/$CONSUMED_ATTRIBUTE" 2>/dev/null)" = "$CONSUMED_VALUE" ]; then
  power_off "the JIT config of this runner was already used"
fi
JIT=$(md "instance/attributes/$JIT_KEY" 2>/dev/null) || JIT=''
if [ -z "$JIT" ]; then
  power_off "no JIT config in the instance metadata (a used runner)"
fi

curl -sf --max-time 10 -X PUT --data "$CONSUMED_VALUE" -H 'Metadata-Flavor: Google' \
  "$MD/instance/guest-attributes/$CONSUMED_ATTRIBUTE" > /dev/null ||
  log "could not set the guest attribute $CONSUMED_ATTRIBUTE"
remove_jit_key && log "JIT config removed from the instance metadata"

ACTIONS_RUNNER_INPUT_JITCONFIG="$JIT"
export ACTIONS_RUNNER_INPUT_JITCONFIG
JIT=''
if [ "$HOOK" = 1 ]; then
  hook="$WORK/startup-hook"
  if md "instance/attributes/$HOOK_KEY" > "$hook"; then
    chmod 700 "$hook"
    log "running the configured startup_script"
    "$hook"
    log "startup_script exited with status $?"
  else
    log "could not read the startup_script from metadata"
  fi
else
  log "starting the runner in /home/runner as user runner"
  su runner -s /bin/sh -c 'cd /home/runner && exec ./run.sh'
  log "runner exited with status $?"
fi
rm -rf "$WORK"
power_off "runner finished"
`;

/**
 * The `startup-script` scaleset installs on every runner VM (POSIX sh, runs as root at each
 * boot). It holds no secret: it reads the JIT config from the `scaleset-jit-config` metadata
 * key, marks it consumed (guest attribute), removes the key from the instance's metadata,
 * runs the configured `startup_script` hook (kept in metadata `scaleset-startup-hook`) or
 * `/home/runner/run.sh` as user `runner`, both with `ACTIONS_RUNNER_INPUT_JITCONFIG` set, and
 * powers the VM off when the runner exits, so a used runner shows as `exited`.
 */
export function runnerStartupScript(
  hasHook: boolean,
  endpoints: StartupScriptEndpoints = {},
): string {
  const header = [
    '#!/bin/sh',
    "# Generated by scaleset's GCP engine for one ephemeral runner; see docs/gcp/README.md.",
    '# It holds no secret; it never prints the JIT config.',
    'set -u',
    'umask 077',
    `MD=${shellWord(endpoints.metadataUrl ?? GCE_METADATA_URL)}`,
    `API=${shellWord(endpoints.computeApiUrl ?? GCE_COMPUTE_API_URL)}`,
    `JIT_KEY=${shellWord(GCP_METADATA_KEYS.jitConfig)}`,
    `HOOK_KEY=${shellWord(GCP_METADATA_KEYS.startupHook)}`,
    `HOOK=${hasHook ? '1' : '0'}`,
    `CONSUMED_ATTRIBUTE=${shellWord(JIT_CONSUMED_GUEST_ATTRIBUTE)}`,
    `CONSUMED_VALUE=${shellWord(JIT_CONSUMED_VALUE)}`,
  ];
  return `${header.join('\n')}\n${BODY}`;
}
