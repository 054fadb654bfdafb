import { UnexpectedRedisReplyError } from './errors';

/** A script reply of the form `{status, detail, ...rest}` with every element read as a string. */
export interface StatusReply {
  readonly status: string;
  readonly detail: string;
  readonly rest: readonly string[];
}

const asText = (value: unknown): string | undefined => {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number') {
    return String(value);
  }
  if (Buffer.isBuffer(value)) {
    return value.toString('utf8');
  }
  return undefined;
};

/** Reads `{status, detail, ...}` or throws {@link UnexpectedRedisReplyError}. */
export function statusReply(
  reply: unknown,
  operation: string,
  scaleSetId: number | undefined,
): StatusReply {
  if (!Array.isArray(reply) || reply.length < 2) {
    throw new UnexpectedRedisReplyError(operation, scaleSetId);
  }
  const texts = (reply as unknown[]).map(asText);
  const [status, detail, ...rest] = texts;
  if (status === undefined || detail === undefined || rest.some((r) => r === undefined)) {
    throw new UnexpectedRedisReplyError(operation, scaleSetId);
  }
  return { status, detail, rest: rest as string[] };
}

/** Reads an integer reply or throws {@link UnexpectedRedisReplyError}. */
export function integerReply(
  reply: unknown,
  operation: string,
  scaleSetId: number | undefined,
): number {
  const text = asText(reply);
  const value = text === undefined ? Number.NaN : Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new UnexpectedRedisReplyError(operation, scaleSetId);
  }
  return value;
}
