#!/bin/sh
# Fake ephemeral GitHub Actions runner for tests. Plain POSIX sh plus busybox applets
# (wget, base64, sed, sleep). It reads the JIT config the fake GitHub service issued,
# reports online, waits for one job, "runs" it (sleeps for its duration), reports the
# result and exits 0, as a real ephemeral runner does.
#
# Env: ACTIONS_RUNNER_INPUT_JITCONFIG (required); FAKE_RUNNER_ORIGIN overrides the
# service origin found in the JIT config.
# Exit codes: 0 job done; 64 no JIT config; 65 undecodable JIT config; 69 service
# unreachable or runner refused (e.g. JIT config already used); 70 removed while waiting.
set -u

jit="${ACTIONS_RUNNER_INPUT_JITCONFIG:-}"
if [ -z "$jit" ]; then
  echo "fake-runner: ACTIONS_RUNNER_INPUT_JITCONFIG is not set" >&2
  exit 64
fi

config=$(printf '%s' "$jit" | base64 -d 2>/dev/null)
# field NAME TEXT: value of "NAME":"value" in one-line JSON (values never contain quotes).
field() {
  printf '%s' "$2" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"
}

origin=$(field origin "$config")
credential=$(field credential "$config")
name=$(field runnerName "$config")
origin="${FAKE_RUNNER_ORIGIN:-$origin}"
if [ -z "$origin" ] || [ -z "$credential" ]; then
  echo "fake-runner: JIT config is not one issued by the fake GitHub service" >&2
  exit 65
fi

# call PATH [POST-DATA]: prints the response body; fails on HTTP errors.
call() {
  if [ "$#" -ge 2 ]; then
    wget -q -O - --header "Authorization: Bearer $credential" \
      --header "Content-Type: application/json" --post-data "$2" "$origin$1"
  else
    wget -q -O - --header "Authorization: Bearer $credential" "$origin$1"
  fi
}

if ! call /_fake/runner/online '{}' >/dev/null; then
  echo "fake-runner: $name could not report online (JIT config used or service down)" >&2
  exit 69
fi
echo "fake-runner: $name online"

job=""
while [ -z "$job" ]; do
  if ! job=$(call '/_fake/runner/job?waitMs=20000'); then
    echo "fake-runner: $name was removed or the service went away while waiting" >&2
    exit 70
  fi
done

job_id=$(field jobId "$job")
duration=$(field durationSec "$job")
result=$(field result "$job")
echo "fake-runner: $name running job $job_id for ${duration}s"
call /_fake/runner/started "{\"jobId\":\"$job_id\"}" >/dev/null || exit 69
sleep "${duration:-0}"
call /_fake/runner/finished "{\"jobId\":\"$job_id\",\"result\":\"${result:-succeeded}\"}" >/dev/null || exit 69
echo "fake-runner: $name finished job $job_id ($result)"
exit 0
