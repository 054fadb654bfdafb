/** Who is calling, sent as the JSON `User-Agent` on every request (§3.3). */
export interface SystemInfo {
  /** Integrating system, e.g. `scaleset`. */
  readonly system: string;
  /** Integrator's version. */
  readonly version: string;
  /** Integrator's commit. */
  readonly commitSha: string;
  /** Scale set id, 0 until known. */
  readonly scaleSetId: number;
  /** Component, e.g. `listener` or `worker`. */
  readonly subsystem: string;
}

/** Version of this client library, reported as `build_version`. */
export const SCALESET_CLIENT_VERSION = '0.1.0';

/** SystemInfo used for any field the caller leaves out. */
export const DEFAULT_SYSTEM_INFO: SystemInfo = Object.freeze({
  system: 'scaleset',
  version: SCALESET_CLIENT_VERSION,
  commitSha: 'NA',
  scaleSetId: 0,
  subsystem: 'scaleset',
});

/** Compact JSON `User-Agent` value with the keys in the SDK's order (§3.3). */
export function buildUserAgent(info: SystemInfo): string {
  return JSON.stringify({
    system: info.system,
    version: info.version,
    commit_sha: info.commitSha,
    scale_set_id: info.scaleSetId,
    subsystem: info.subsystem,
    build_version: SCALESET_CLIENT_VERSION,
    build_commit_sha: 'unknown',
    kind: 'scaleset',
  });
}
