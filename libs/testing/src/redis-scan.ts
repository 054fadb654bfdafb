import type { Redis } from 'ioredis';

/** One place a secret was found. `where` never includes the secret itself. */
export interface SecretFinding {
  readonly key: string;
  /** Redis type of the key: string, hash, list, set, zset, stream. */
  readonly type: string;
  /** `key name`, `value`, `hash field`, `hash value`, `member`, `stream entry`. */
  readonly where: string;
}

/** What {@link scanRedisForSecret} looked at and found. */
export interface SecretScanReport {
  /** Keys matched and read; assert it is non-zero so the scan cannot pass vacuously. */
  readonly keysScanned: number;
  /** Keys of each type read, e.g. `{ hash: 12, zset: 3 }`. */
  readonly types: Readonly<Record<string, number>>;
  readonly findings: readonly SecretFinding[];
}

const MIN_SECRET_LENGTH = 8;

/**
 * Reads every key matching `pattern` (SCAN MATCH) byte for byte (strings, hashes, lists, sets,
 * sorted sets, streams; BullMQ job hashes including `data` and `opts`) and reports where any of
 * `secrets` occurs, in key names or values. Pass encodings the secret may be stored in too
 * (e.g. its base64 form). Single-node Redis only (SCAN does not cross cluster nodes).
 */
export async function scanRedisForSecret(
  redis: Redis,
  pattern: string,
  secrets: string | readonly string[],
): Promise<SecretScanReport> {
  const needles = (typeof secrets === 'string' ? [secrets] : secrets).map((s) => {
    if (s.length < MIN_SECRET_LENGTH) {
      throw new Error(
        `scanRedisForSecret: secrets must be at least ${MIN_SECRET_LENGTH} characters`,
      );
    }
    return Buffer.from(s, 'utf8');
  });
  const contains = (value: Buffer): boolean => needles.some((n) => value.includes(n));
  const findings: SecretFinding[] = [];
  const types: Record<string, number> = {};
  let keysScanned = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next.toString('utf8');
    for (const keyBuffer of keys) {
      const key = keyBuffer.toString('utf8');
      const type = await redis.type(keyBuffer);
      if (type === 'none') {
        continue;
      }
      keysScanned++;
      types[type] = (types[type] ?? 0) + 1;
      const found = (where: string): void => {
        findings.push({ key, type, where });
      };
      if (contains(keyBuffer)) {
        found('key name');
      }
      for (const [where, value] of await readValues(redis, keyBuffer, type)) {
        if (contains(value)) {
          found(where);
        }
      }
    }
  } while (cursor !== '0');
  return { keysScanned, types, findings };
}

async function readValues(
  redis: Redis,
  key: Buffer,
  type: string,
): Promise<(readonly [string, Buffer])[]> {
  const all = (where: string, values: unknown): (readonly [string, Buffer])[] =>
    flatten(values).map((v) => [where, v] as const);
  switch (type) {
    case 'string': {
      const value = await redis.getBuffer(key);
      return value === null ? [] : [['value', value]];
    }
    case 'hash': {
      const flat = flatten(await redis.callBuffer('HGETALL', key));
      return flat.map((v, i) => [i % 2 === 0 ? 'hash field' : 'hash value', v] as const);
    }
    case 'list':
      return all('member', await redis.lrangeBuffer(key, 0, -1));
    case 'set':
      return all('member', await redis.smembersBuffer(key));
    case 'zset':
      return all('member', await redis.zrangeBuffer(key, 0, -1));
    case 'stream':
      return all('stream entry', await redis.callBuffer('XRANGE', key, '-', '+'));
    default:
      // Module types cannot be read generically: report them so a test notices.
      return [[`unreadable type ${type}`, Buffer.from('')]];
  }
}

function flatten(value: unknown): Buffer[] {
  if (Buffer.isBuffer(value)) {
    return [value];
  }
  if (typeof value === 'string') {
    return [Buffer.from(value, 'utf8')];
  }
  if (Array.isArray(value)) {
    return value.flatMap((v: unknown) => flatten(v));
  }
  return [];
}
