/**
 * What the fake's `encodedJITConfig` carries. Every value is a plain string without quotes or
 * backslashes so that a POSIX shell script can pull fields out of the decoded one-line JSON
 * with `sed`.
 */
export interface FakeJitConfig {
  /** Origin of the fake GitHub service, e.g. `http://127.0.0.1:40123`. */
  origin: string;
  /** Runner id the fake service registered. */
  runnerId: string;
  /** Runner name. */
  runnerName: string;
  /** Scale set id, as a decimal string. */
  scaleSetId: string;
  /** Secret the runner authenticates with on `/_fake/runner/...`. */
  credential: string;
}

const FIELDS = ['origin', 'runnerId', 'runnerName', 'scaleSetId', 'credential'] as const;

/**
 * Encodes a fake JIT config as standard base64 of a one-line JSON object. The real service's
 * file-name keys (`.runner`, `.credentials`) are added too, so the payload looks like the
 * observed format to anything that peeks into it.
 */
export function encodeFakeJitConfig(config: FakeJitConfig): string {
  for (const key of FIELDS) {
    if (/["\\\n]/.test(config[key])) {
      throw new Error(
        `fake JIT config field ${key} must not contain quotes, backslashes or newlines`,
      );
    }
  }
  const runnerFile = Buffer.from(
    JSON.stringify({
      agentId: config.runnerId,
      agentName: config.runnerName,
      serverUrl: config.origin,
    }),
  ).toString('base64');
  const credentialsFile = Buffer.from(JSON.stringify({ scheme: 'FakeRunner' })).toString('base64');
  const payload = {
    fake: 'github',
    origin: config.origin,
    runnerId: config.runnerId,
    runnerName: config.runnerName,
    scaleSetId: config.scaleSetId,
    credential: config.credential,
    '.runner': runnerFile,
    '.credentials': credentialsFile,
  };
  return Buffer.from(JSON.stringify(payload)).toString('base64');
}

/** Decodes a JIT config made by {@link encodeFakeJitConfig}; throws on anything else. */
export function decodeFakeJitConfig(encoded: string): FakeJitConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch (cause) {
    throw new Error('JIT config is not base64 of a JSON object made by the fake GitHub service', {
      cause,
    });
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new Error('JIT config is not base64 of a JSON object made by the fake GitHub service');
  }
  const record = parsed as Record<string, unknown>;
  const read = (key: (typeof FIELDS)[number]): string => {
    const value = record[key];
    if (typeof value !== 'string') {
      throw new Error(
        `JIT config has no string field ${key}; was it made by the fake GitHub service?`,
      );
    }
    return value;
  };
  return {
    origin: read('origin'),
    runnerId: read('runnerId'),
    runnerName: read('runnerName'),
    scaleSetId: read('scaleSetId'),
    credential: read('credential'),
  };
}
