import { inspect } from 'node:util';
import {
  ScaleSetClient,
  type JobAssigned,
  type JobAvailable,
  type JobCompleted,
  type JobStarted,
  type MessageSessionClient,
  type RunnerScaleSetJitRunnerConfig,
  type RunnerScaleSetMessage,
  type ScaleSetClientOptions,
} from '@app/scaleset';
import {
  decodeFakeJitConfig,
  FakeGitHub,
  type EndpointName,
  type FakeGitHubOptions,
  type RecordedEndpoint,
  type RecordedRequest,
} from '@app/testing';
import pino, { type Logger } from 'pino';

/** Short client backoff for every test except the Retry-After one (brief: 10..50 ms). */
export const FAST_RETRY = { waitMinMs: 10, waitMaxMs: 50 } as const;

/** Long-poll hold of the fakes in this suite. */
export const POLL_TIMEOUT_MS = 300;

/** Endpoints authorised with the admin JWT (§3.1). */
export const MANAGEMENT_ENDPOINTS: readonly EndpointName[] = [
  'getRunnerGroup',
  'getScaleSetByName',
  'getScaleSet',
  'createScaleSet',
  'updateScaleSet',
  'deleteScaleSet',
  'generateJitConfig',
  'getRunner',
  'getRunnerByName',
  'removeRunner',
  'createSession',
  'refreshSession',
  'deleteSession',
];

const QUEUE_ENDPOINTS: readonly RecordedEndpoint[] = ['getMessage', 'deleteMessage', 'acquireJobs'];

// Shorter values are more likely to occur by chance in unrelated text.
const MIN_SECRET_LENGTH = 8;

/** Job messages received by {@link collectJobs}, per type, in arrival order. */
export interface CollectedJobs {
  available: JobAvailable[];
  assigned: JobAssigned[];
  started: JobStarted[];
  completed: JobCompleted[];
  messages: RunnerScaleSetMessage[];
  lastMessageId: number;
}

/** Every string form of an error a log line or an operator could see. */
export function errorForms(err: unknown): string[] {
  // Caught errors are Error objects, so JSON.stringify always yields a string here.
  const forms = [String(err), JSON.stringify(err), inspect(err, { depth: 10 })];
  if (err instanceof Error) {
    forms.push(err.message, err.stack ?? '');
  }
  return forms;
}

/**
 * Shared state of the conformance suite: the §11.1 coverage registry, one capturing pino
 * logger (debug level) handed to every client, every error a test caught, and the fakes and
 * clients to clean up. Secrets are harvested from what the fakes recorded.
 */
export class Conformance {
  /** §11.1 behaviour numbers whose describe block ran. */
  readonly covered = new Set<number>();
  /** Every line the clients logged. */
  readonly logLines: string[] = [];
  readonly logger: Logger;
  /** Every error caught through {@link Conformance.failure}. */
  readonly caught: unknown[] = [];
  /** Secret value → what it is. */
  readonly secrets = new Map<string, string>();
  readonly #fakes: FakeGitHub[] = [];
  readonly #live = new Set<FakeGitHub>();
  #clients: ScaleSetClient[] = [];

  constructor() {
    this.logger = pino(
      { level: 'debug', base: null },
      {
        write: (line: string): void => {
          this.logLines.push(line);
        },
      },
    );
  }

  /** Starts a fake on 127.0.0.1 with a short long-poll hold. */
  async fake(options: FakeGitHubOptions = {}): Promise<FakeGitHub> {
    const fake = new FakeGitHub({ pollTimeoutMs: POLL_TIMEOUT_MS, ...options });
    await fake.start();
    this.#fakes.push(fake);
    this.#live.add(fake);
    this.secret(fake.pat, 'PAT');
    for (const line of fake.app.privateKey.split('\n')) {
      if (!line.startsWith('-----') && line.length >= 40) {
        this.secret(line, 'App private key');
      }
    }
    return fake;
  }

  async stopFake(fake: FakeGitHub): Promise<void> {
    this.harvest(fake);
    this.#live.delete(fake);
    await fake.stop();
  }

  /** A PAT client of `fake` with fast retries, no proxy and the capturing logger. */
  client(fake: FakeGitHub, options: Partial<ScaleSetClientOptions> = {}): ScaleSetClient {
    const client = new ScaleSetClient({
      configUrl: fake.configUrl(),
      auth: { kind: 'pat', token: fake.pat },
      retry: FAST_RETRY,
      proxy: 'none',
      env: {},
      logger: this.logger,
      systemInfo: { system: 'conformance', subsystem: 'scaleset-conformance' },
      ...options,
    });
    this.#clients.push(client);
    return client;
  }

  /** A GitHub App client of `fake`. */
  appClient(fake: FakeGitHub, options: Partial<ScaleSetClientOptions> = {}): ScaleSetClient {
    return this.client(fake, {
      auth: {
        kind: 'app',
        clientId: fake.app.clientId,
        installationId: fake.app.installationId,
        privateKey: fake.app.privateKey,
      },
      ...options,
    });
  }

  async closeClients(): Promise<void> {
    const clients = this.#clients;
    this.#clients = [];
    await Promise.all(clients.map((c) => c.close()));
  }

  async stopAll(): Promise<void> {
    await this.closeClients();
    for (const fake of [...this.#live]) {
      await this.stopFake(fake);
    }
  }

  /** Forgets what `fake` recorded (after harvesting its secrets), so a test sees only its own. */
  reset(fake: FakeGitHub): void {
    this.harvest(fake);
    fake.clearFaults();
    fake.clearRequests();
  }

  /** Expects `promise` to reject; keeps the error for the final secret scan and returns it. */
  async failure(promise: Promise<unknown>): Promise<Error> {
    try {
      await promise;
    } catch (err) {
      this.caught.push(err);
      if (!(err instanceof Error)) {
        throw new Error(`rejected with a non-Error: ${inspect(err)}`, { cause: err });
      }
      return err;
    }
    throw new Error('expected the call to fail, but it succeeded');
  }

  /** Synchronous variant of {@link Conformance.failure}. */
  failureSync(fn: () => unknown): Error {
    try {
      fn();
    } catch (err) {
      this.caught.push(err);
      if (!(err instanceof Error)) {
        throw new Error(`threw a non-Error: ${inspect(err)}`, { cause: err });
      }
      return err;
    }
    throw new Error('expected the call to throw, but it returned');
  }

  /** Remembers a secret value the scan must not find anywhere. */
  secret(value: string | undefined, what: string): void {
    if (value !== undefined && value.length >= MIN_SECRET_LENGTH) {
      this.secrets.set(value, what);
    }
  }

  /** Remembers a JIT config (and the runner credential inside it); returns the config. */
  jit(config: RunnerScaleSetJitRunnerConfig): string {
    this.secret(config.encodedJITConfig, 'JIT config');
    this.secret(decodeFakeJitConfig(config.encodedJITConfig).credential, 'JIT runner credential');
    return config.encodedJITConfig;
  }

  /** Collects the credentials the fake saw in Authorization headers. */
  harvest(fake: FakeGitHub): void {
    for (const request of fake.requests) {
      const match = /^(\S+)\s+(\S+)$/.exec(request.headers.authorization ?? '');
      const credential = match?.[2];
      if (credential === undefined) {
        continue;
      }
      this.secret(credential, secretKind(request, credential, fake.pat));
    }
  }

  /** Harvests every fake ever started (running or stopped). */
  harvestAll(): void {
    for (const fake of this.#fakes) {
      this.harvest(fake);
    }
  }
}

function secretKind(request: RecordedRequest, credential: string, pat: string): string {
  const { endpoint } = request;
  if (endpoint === 'installationToken') {
    return 'App JWT';
  }
  if (endpoint === 'registrationToken') {
    return credential === pat ? 'PAT' : 'installation token';
  }
  if (endpoint === 'runnerRegistration') {
    return 'registration token';
  }
  if (endpoint === 'fake') {
    return 'runner credential';
  }
  // Queue calls carry the queue token (a raw acquire-jobs test sends the admin JWT).
  if (QUEUE_ENDPOINTS.includes(endpoint) && !credential.startsWith('eyJ')) {
    return 'queue token';
  }
  return 'admin token';
}

/** `endpoint status` of each protocol request, in arrival order (fake control calls left out). */
export function trace(fake: FakeGitHub, endpoints?: readonly RecordedEndpoint[]): string[] {
  return ordered(fake)
    .filter((r) => r.endpoint !== 'fake')
    .filter((r) => endpoints === undefined || endpoints.includes(r.endpoint))
    .map((r) => `${r.endpoint} ${r.status}`);
}

/** Recorded requests in arrival order (the fake records them when their response closes). */
export function ordered(fake: FakeGitHub): RecordedRequest[] {
  return fake.requests
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.at - b.r.at || a.i - b.i)
    .map(({ r }) => r);
}

/** Number of recorded requests of one endpoint. */
export function hits(fake: FakeGitHub, endpoint: RecordedEndpoint): number {
  return fake.requestsFor(endpoint).length;
}

/** The one recorded request of `endpoint` (fails when there is not exactly one). */
export function only(fake: FakeGitHub, endpoint: RecordedEndpoint): RecordedRequest {
  const found = fake.requestsFor(endpoint);
  if (found.length !== 1 || found[0] === undefined) {
    throw new Error(`expected exactly one ${endpoint} request, saw ${found.length}`);
  }
  return found[0];
}

/** Long-polls until a message arrives (202s are skipped); fails after `maxPolls` empty polls. */
export async function nextMessage(
  session: MessageSessionClient,
  lastMessageId: number,
  capacity = 10,
  maxPolls = 20,
): Promise<RunnerScaleSetMessage> {
  for (let i = 0; i < maxPolls; i++) {
    const message = await session.getMessage(lastMessageId, capacity);
    if (message !== null) {
      return message;
    }
  }
  throw new Error(`no message after ${maxPolls} long polls`);
}

/**
 * Polls and acknowledges messages, accumulating their job messages, until `done` holds.
 * Starts after `lastMessageId`.
 */
export async function collectJobs(
  session: MessageSessionClient,
  done: (jobs: CollectedJobs) => boolean,
  options: { lastMessageId?: number; capacity?: number; maxMessages?: number } = {},
): Promise<CollectedJobs> {
  const jobs: CollectedJobs = {
    available: [],
    assigned: [],
    started: [],
    completed: [],
    messages: [],
    lastMessageId: options.lastMessageId ?? 0,
  };
  const maxMessages = options.maxMessages ?? 20;
  while (!done(jobs)) {
    if (jobs.messages.length >= maxMessages) {
      throw new Error(`condition not met after ${maxMessages} messages`);
    }
    const message = await nextMessage(session, jobs.lastMessageId, options.capacity ?? 10);
    await session.deleteMessage(message.messageId);
    jobs.messages.push(message);
    jobs.lastMessageId = message.messageId;
    jobs.available.push(...message.jobAvailableMessages);
    jobs.assigned.push(...message.jobAssignedMessages);
    jobs.started.push(...message.jobStartedMessages);
    jobs.completed.push(...message.jobCompletedMessages);
  }
  return jobs;
}

/** Decodes a JWT's claims without verifying it. */
export function jwtClaims(token: string): Record<string, unknown> {
  const part = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** The bearer credential of a recorded request. */
export function bearer(request: RecordedRequest): string {
  return (request.headers.authorization ?? '').replace(/^bearer /i, '');
}
