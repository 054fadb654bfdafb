import type { ScalesetConfig } from '@app/config';
import type { ScaleSetLogger, ScaleSetRequestObserver } from './http.transport';
import type { ScaleSetClientOptions } from './scaleset.client';

/** What the apps add to the configuration when they build a client. */
export interface ClientContext {
  /** `subsystem` of the JSON User-Agent, e.g. `listener` or `worker`. */
  readonly subsystem: string;
  readonly version?: string;
  readonly logger?: ScaleSetLogger;
  /** Observer of finished requests (metrics). */
  readonly onRequest?: ScaleSetRequestObserver;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Maps the validated configuration to {@link ScaleSetClientOptions}. */
export function scaleSetClientOptionsFromConfig(
  config: ScalesetConfig,
  context: ClientContext,
): ScaleSetClientOptions {
  const auth = config.github.auth;
  return {
    configUrl: config.github.url,
    auth:
      auth.kind === 'pat'
        ? { kind: 'pat', token: auth.token }
        : {
            kind: 'app',
            clientId: auth.clientId,
            installationId: auth.installationId,
            privateKey: auth.privateKey,
          },
    systemInfo: {
      system: 'scaleset',
      subsystem: context.subsystem,
      ...(context.version !== undefined && { version: context.version }),
    },
    ...(config.github.caCert !== undefined && { caCert: config.github.caCert }),
    ...(context.logger !== undefined && { logger: context.logger }),
    ...(context.onRequest !== undefined && { onRequest: context.onRequest }),
    ...(context.env !== undefined && { env: context.env }),
  };
}
