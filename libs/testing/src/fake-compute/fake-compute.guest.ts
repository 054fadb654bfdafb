import { runFakeRunner } from '../fake-runner/fake-runner.client';
import type { ComputeState, InstanceRecord } from './fake-compute.state';
import type { FakeComputeGuest, FakeGuestContext } from './fake-compute.types';

/** How many times `removeMetadataKey` re-reads the fingerprint after a 412 before giving up. */
const SET_METADATA_ATTEMPTS = 5;
const GUEST_ATTRIBUTE_PART = /^[A-Za-z0-9_-]{1,64}$/;

/** What a guest needs from the fake around it. */
export interface GuestHost {
  readonly url: string;
  readonly project: string;
  readonly state: ComputeState;
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function guestAttributesEnabled(record: InstanceRecord): boolean {
  const value = record.metadata.find((i) => i.key === 'enable-guest-attributes')?.value;
  return value?.toUpperCase() === 'TRUE';
}

/**
 * The in-VM view of one instance. Metadata is the snapshot taken at boot (as a startup script
 * reads it once); metadata changes go through the fake's own HTTP API with a VM-style access
 * token, so they are recorded and subject to injected faults like any client's.
 */
function guestContext(
  record: InstanceRecord,
  host: GuestHost,
  signal: AbortSignal,
): FakeGuestContext {
  const instancePath = `/compute/v1/projects/${host.project}/zones/${record.zone}/instances/${record.name}`;
  const headers = {
    authorization: `Bearer ya29.fake-vm-token.${record.id}`,
    'content-type': 'application/json',
  };
  const call = async (method: string, path: string, body?: unknown): Promise<Response> => {
    const init: RequestInit = { method, headers, signal };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
    }
    return fetch(`${host.url}${path}`, init);
  };
  const metadata = Object.freeze(
    Object.fromEntries(record.metadata.map((i) => [i.key, i.value])) as Record<string, string>,
  );
  return {
    name: record.name,
    zone: record.zone,
    metadata,
    signal,
    async removeMetadataKey(key: string): Promise<void> {
      for (let attempt = 1; ; attempt += 1) {
        const got = await call('GET', instancePath);
        if (!got.ok) {
          throw new Error(`instances.get answered ${got.status}: ${await got.text()}`);
        }
        const instance = (await got.json()) as {
          metadata?: { fingerprint?: string; items?: { key: string; value: string }[] };
        };
        const items = (instance.metadata?.items ?? []).filter((i) => i.key !== key);
        const set = await call('POST', `${instancePath}/setMetadata`, {
          fingerprint: instance.metadata?.fingerprint,
          items,
        });
        if (set.ok) {
          return;
        }
        const text = await set.text();
        if (set.status !== 412 || attempt >= SET_METADATA_ATTEMPTS) {
          throw new Error(`instances.setMetadata answered ${set.status}: ${text}`);
        }
      }
    },
    setGuestAttribute(namespace: string, key: string, value: string): void {
      if (!guestAttributesEnabled(record)) {
        // The metadata server refuses writes unless the instance enabled guest attributes.
        throw new Error(
          `guest attributes are disabled on ${record.name}: set metadata ` +
            'enable-guest-attributes=TRUE to let the VM write them',
        );
      }
      if (!GUEST_ATTRIBUTE_PART.test(namespace) || !GUEST_ATTRIBUTE_PART.test(key)) {
        throw new Error(`invalid guest attribute path ${namespace}/${key}`);
      }
      let entries = record.guestAttributes.get(namespace);
      if (!entries) {
        entries = new Map();
        record.guestAttributes.set(namespace, entries);
      }
      entries.set(key, value);
    },
    shutdown(): void {
      host.state.shutdown(record);
    },
    log(message: string): void {
      host.state.event('guest-warning', message, record.name);
    },
  };
}

/**
 * Runs `guest` inside `record` until it returns, fails or the VM stops. Failures are recorded as
 * `guest-error` events; they never reach the caller.
 */
export async function runGuest(
  guest: FakeComputeGuest,
  record: InstanceRecord,
  host: GuestHost,
): Promise<void> {
  const controller = new AbortController();
  record.guest = controller;
  host.state.event('guest-started', 'guest program started', record.name);
  try {
    await guest(guestContext(record, host, controller.signal));
    host.state.event('guest-finished', 'guest program returned', record.name);
  } catch (error) {
    host.state.event('guest-error', errorText(error), record.name);
  } finally {
    if (record.guest === controller) {
      record.guest = undefined;
    }
  }
}

/** Options of {@link fakeRunnerGuest}. */
export interface FakeRunnerGuestOptions {
  /** Metadata key holding the runner's encoded JIT config. */
  jitMetadataKey: string;
  /** Remove the key through the Compute API after reading it; default `true`. */
  removeAfterRead?: boolean;
  /** Overrides the fake GitHub origin found in the JIT config. */
  origin?: string;
}

/**
 * A guest that does what the runner image's startup script does: read the JIT config from
 * metadata, remove the key (so the secret does not linger in metadata), mark it consumed in the
 * guest attribute `scaleset/jit-config`, run the runner (the in-process fake runner against the
 * fake GitHub) and power the VM off when the runner exits. Without the key it powers off at once.
 * A failed metadata removal or guest-attribute write is logged (a `guest-warning` event) and does
 * not stop the runner, as a failing `curl` in a startup script would not.
 */
export function fakeRunnerGuest(options: FakeRunnerGuestOptions): FakeComputeGuest {
  return async (vm) => {
    const jit = vm.metadata[options.jitMetadataKey];
    if (jit === undefined || jit === '') {
      vm.shutdown();
      return;
    }
    if (options.removeAfterRead ?? true) {
      try {
        await vm.removeMetadataKey(options.jitMetadataKey);
      } catch (error) {
        vm.log(`could not remove metadata key ${options.jitMetadataKey}: ${errorText(error)}`);
      }
    }
    try {
      vm.setGuestAttribute('scaleset', 'jit-config', 'consumed');
    } catch (error) {
      vm.log(`could not write guest attribute scaleset/jit-config: ${errorText(error)}`);
    }
    try {
      await runFakeRunner(jit, {
        signal: vm.signal,
        ...(options.origin === undefined ? {} : { origin: options.origin }),
      });
    } finally {
      if (!vm.signal.aborted) {
        vm.shutdown();
      }
    }
  };
}
