import { generateKeyPairSync } from 'node:crypto';
import type { FakeCompute } from './fake-compute.server';

/** A throwaway service-account key, made once per process (RSA generation takes a while). */
let throwawayKey: { client_email: string; private_key: string } | undefined;

function serviceAccountKey(project: string): { client_email: string; private_key: string } {
  if (throwawayKey === undefined) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    throwawayKey = {
      client_email: '',
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    };
  }
  return { ...throwawayKey, client_email: `scaleset-test@${project}.iam.gserviceaccount.com` };
}

/**
 * What {@link fakeComputeClientOptions} returns. A type alias, not an interface, so that it is
 * assignable to the clients' `ClientOptions` (which has an index signature).
 */
export type FakeComputeClientOptions = {
  apiEndpoint: string;
  port: number;
  protocol: 'http';
  fallback: true;
  projectId: string;
  credentials: { client_email: string; private_key: string };
  scopes: string[];
  clientOptions: { transporterOptions: { fetchImplementation: typeof fetch } };
};

/**
 * Options for `new InstancesClient(...)` / `new ZoneOperationsClient(...)` of
 * `@google-cloud/compute` 7.x that make the real client talk to `fake` over plain HTTP, offline.
 *
 * Checked against `@google-cloud/compute` 7.8 (google-gax 6.17, google-auth-library 11.3):
 * - `apiEndpoint` + `port` + `protocol: 'http'` are read by gax's REST transport (`fallback`,
 *   which the Compute clients turn on by default; it is set explicitly here anyway).
 * - `credentials` is a service-account key with a throwaway RSA key. With a custom endpoint the
 *   client adds the Compute OAuth scopes unless `scopes` is given; scopes make the auth library
 *   exchange a JWT at Google's token host (it ignores a key's `token_uri`), which fails offline.
 *   `scopes: []` makes it sign a self-signed JWT (audience `https://compute.googleapis.com/`)
 *   locally instead, which the fake accepts. google-auth-library prints a one-line deprecation
 *   warning for the `credentials` option; passing `authClient: new JWT({ email, key, scopes: [] })`
 *   avoids it and works the same way.
 * - `clientOptions.transporterOptions.fetchImplementation` hands the auth library's HTTP layer
 *   (gaxios 7) Node's own `fetch`. Without it gaxios loads `node-fetch` with a dynamic `import()`,
 *   which jest's CommonJS runtime rejects ("A dynamic import callback was invoked without
 *   --experimental-vm-modules"), so every call fails under jest. Outside jest it changes nothing.
 * - `projectId` saves the client a project lookup.
 */
export function fakeComputeClientOptions(fake: FakeCompute): FakeComputeClientOptions {
  return {
    apiEndpoint: new URL(fake.url).hostname,
    port: fake.port,
    protocol: 'http',
    fallback: true,
    projectId: fake.project,
    credentials: serviceAccountKey(fake.project),
    scopes: [],
    clientOptions: { transporterOptions: { fetchImplementation: globalThis.fetch } },
  };
}
