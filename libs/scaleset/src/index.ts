/**
 * `@app/scaleset`: TypeScript client of the GitHub Actions runner scale set protocol
 * (docs/scaleset-protocol.md). Plain classes usable with `new`, plus a thin Nest module.
 */

/** Scale set API client, its options and how it authenticates. */
export { ScaleSetClient, type ScaleSetClientOptions } from './scaleset.client';
/** Nest module providing {@link ScaleSetClient}. */
export { ScaleSetModule } from './scaleset.module';
/** Message session client (long poll, ack, acquire jobs) and what it needs from its parent. */
export { MessageSessionClient, type MessageSessionHost } from './message-session.client';
/** GitHub credentials: a PAT or GitHub App installation. */
export type { GitHubAuth } from './github-credential.source';
/** Config URL parsing (§1). */
export {
  parseGitHubConfigUrl,
  type GitHubConfigUrl,
  type GitHubConfigScope,
} from './config-url.parser';
/** JSON User-Agent (§3.3). */
export {
  buildUserAgent,
  DEFAULT_SYSTEM_INFO,
  SCALESET_CLIENT_VERSION,
  type SystemInfo,
} from './user-agent.builder';
/** HTTP layer settings and the logger interface. */
export {
  DEFAULT_RETRY_POLICY,
  DEFAULT_TIMEOUT_MS,
  NOOP_LOGGER,
  endpointTemplate,
  parseRetryAfter,
  type RetryPolicy,
  type ScaleSetLogger,
  type ScaleSetRequestEvent,
  type ScaleSetRequestObserver,
} from './http.transport';
/** Actions service URL construction (§3.2). */
export {
  ACTIONS_API_VERSION,
  buildServiceUrl,
  buildGetMessageUrl,
  buildDeleteMessageUrl,
} from './request-url.builder';
/** Message parsing (§6.1) and scale set serialisation (§4.4). */
export {
  decodeMessage,
  encodeRunnerScaleSet,
  RUNNER_SCALE_SET_JOB_MESSAGES,
} from './scaleset.codec';
/** Protocol data types (JSON field names of the protocol). */
export {
  NIL_UUID,
  ZERO_TIME,
  type JobAssigned,
  type JobAvailable,
  type JobCompleted,
  type JobMessage,
  type JobMessageBase,
  type JobStarted,
  type RunnerGroup,
  type RunnerReference,
  type RunnerScaleSet,
  type RunnerScaleSetInput,
  type RunnerScaleSetJitRunnerConfig,
  type RunnerScaleSetJitRunnerSetting,
  type RunnerScaleSetLabel,
  type RunnerScaleSetMessage,
  type RunnerScaleSetSession,
  type RunnerScaleSetStatistic,
  type RunnerSetting,
} from './scaleset.types';
/** Error vocabulary: one API error type with subclasses callers act on. */
export {
  ScaleSetError,
  ScaleSetApiError,
  RunnerNotFoundError,
  RunnerExistsError,
  JobStillRunningError,
  MessageQueueTokenExpiredError,
  SessionConflictError,
  SessionNotFoundError,
  ScaleSetNotFoundError,
  RunnerGroupNotFoundError,
  RateLimitedError,
  InvalidConfigUrlError,
  InvalidClientOptionsError,
  ScaleSetArgumentError,
  GitHubAppAuthError,
  isRetryable,
  DEFAULT_RATE_LIMIT_PAUSE_MS,
  type ServiceException,
} from './errors';
export { scaleSetClientOptionsFromConfig, type ClientContext } from './scaleset.config';
export { DEFAULT_RUNNER_GROUP_ID, runnerGroupId } from './runner-group';
