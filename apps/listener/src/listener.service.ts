import { hostname } from 'node:os';
import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { SCALESET_CONFIG, type ScaleSetConfig, type ScalesetConfig } from '@app/config';
import { JobProducer } from '@app/queue';
import { LeaseManager, MessageCursor, RunnerRegistry } from '@app/registry';
import {
  GitHubAppAuthError,
  InvalidClientOptionsError,
  InvalidConfigUrlError,
  RateLimitedError,
  RunnerGroupNotFoundError,
  ScaleSetApiError,
  ScaleSetClient,
  scaleSetClientOptionsFromConfig,
} from '@app/scaleset';
import {
  COLLECTOR_KEYS,
  githubRequestObserver,
  runnerStateCollector,
  Telemetry,
  type Logger,
} from '@app/telemetry';
import { ClientSessionFactory, RedisLeaderElection } from './listener.adapters';
import type { ListenerStatus } from './listener.ports';
import { RunnerScaler } from './runner.scaler';
import { ScaleSetListener, sleep } from './scale-set.listener';
import { ensureScaleSet } from './scale-set.provisioner';

/** Injection token of the listener's logger. */
export const LISTENER_LOGGER = 'LISTENER_LOGGER';

/** Errors that retrying cannot fix: the configuration is wrong. */
export function isConfigurationError(err: unknown): boolean {
  if (
    err instanceof RunnerGroupNotFoundError ||
    err instanceof InvalidConfigUrlError ||
    err instanceof InvalidClientOptionsError ||
    err instanceof GitHubAppAuthError
  ) {
    return true;
  }
  // Bad credentials or a URL GitHub does not know, from the token endpoints.
  return (
    err instanceof ScaleSetApiError &&
    !(err instanceof RateLimitedError) &&
    (err.status === 401 || err.status === 403 || err.status === 404)
  );
}

/**
 * Runs one {@link ScaleSetListener} per configured scale set: makes sure the scale set
 * exists on GitHub, then competes for its lease. Stops them all (sessions deleted, leases
 * released, runners left running) before the Redis connections close.
 */
@Injectable()
export class ListenerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly shutdown = new AbortController();
  private readonly runs: Promise<void>[] = [];
  private readonly listeners = new Map<string, ScaleSetListener>();
  private readonly clients: ScaleSetClient[] = [];
  private readonly collectors: (() => void)[] = [];
  private rejectFailure: (err: Error) => void = () => undefined;
  /** Settles with the error when a scale set cannot be served because the configuration is wrong. */
  readonly failure: Promise<Error> = new Promise<Error>((resolve) => {
    this.rejectFailure = resolve;
  });

  constructor(
    @Inject(SCALESET_CONFIG) private readonly config: ScalesetConfig,
    private readonly registry: RunnerRegistry,
    private readonly leases: LeaseManager,
    private readonly cursor: MessageCursor,
    private readonly producer: JobProducer,
    @Inject(LISTENER_LOGGER) private readonly logger: Logger,
    private readonly telemetry: Telemetry,
  ) {}

  onApplicationBootstrap(): void {
    for (const scaleSet of this.config.scaleSets) {
      this.runs.push(this.serve(scaleSet));
    }
    this.logger.info(
      { scaleSets: this.config.scaleSets.map((s) => s.name) },
      `listener started for scale sets: ${this.config.scaleSets.map((s) => s.name).join(', ')}`,
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.shutdown.abort();
    await Promise.allSettled(this.runs);
    this.collectors.forEach((remove) => {
      remove();
    });
    await Promise.allSettled(this.clients.map((c) => c.close()));
  }

  /** One entry per configured scale set, for the health endpoints. */
  statuses(): ListenerStatus[] {
    return this.config.scaleSets.map(
      (s) =>
        this.listeners.get(s.name)?.status() ?? {
          scaleSet: s.name,
          role: 'starting',
          hasSession: false,
          lastCycleAt: this.startedAt,
        },
    );
  }

  private readonly startedAt = Date.now();

  private async serve(config: ScaleSetConfig): Promise<void> {
    const log = this.logger.child({ scaleSet: config.name });
    const client = new ScaleSetClient(
      scaleSetClientOptionsFromConfig(this.config, {
        subsystem: 'listener',
        logger: log,
        onRequest: githubRequestObserver(this.telemetry),
      }),
    );
    this.clients.push(client);
    const signal = this.shutdown.signal;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const scaleSet = await ensureScaleSet(client, config, log, signal);
        client.setScaleSetId(scaleSet.id);
        // Runner counts are read from Redis at scrape time, so every replica reports the same.
        this.collectors.push(
          this.telemetry.meter.addCollector(
            COLLECTOR_KEYS.runners(scaleSet.id),
            runnerStateCollector(
              { id: scaleSet.id, name: config.name, maxRunners: () => config.maxRunners },
              this.registry,
            ),
          ),
        );
        const listener = new ScaleSetListener(
          {
            sessions: new ClientSessionFactory(client, scaleSet.id),
            election: new RedisLeaderElection(
              this.leases,
              this.cursor,
              scaleSet.id,
              this.config.listener.leaseTtlMs,
              log,
            ),
            scaler: new RunnerScaler(
              this.registry,
              this.producer,
              {
                id: scaleSet.id,
                name: config.name,
                minRunners: () => config.minRunners,
                maxRunners: () => config.maxRunners,
              },
              {
                scaleDownGraceMs: this.config.listener.scaleDownGraceMs,
                logger: log,
                telemetry: this.telemetry,
              },
            ),
            logger: this.logger,
            telemetry: this.telemetry,
          },
          {
            scaleSetName: config.name,
            maxRunners: () => config.maxRunners,
            ownerName: hostname(),
            timing: { reevaluateMs: this.config.listener.reevaluateIntervalMs },
          },
        );
        this.listeners.set(config.name, listener);
        await listener.run(signal);
        return;
      } catch (err) {
        if (this.shutdown.signal.aborted) {
          return;
        }
        if (isConfigurationError(err)) {
          log.error(
            { err },
            'cannot serve the scale set: check github.url, the credentials and the runner group',
          );
          this.rejectFailure(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        const delay = Math.min(30_000, 1_000 * 2 ** Math.min(attempt++, 5));
        log.warn({ err, retryInMs: delay }, 'could not set up the scale set on GitHub; retrying');
        await sleep(delay, signal);
      }
    }
  }
}
