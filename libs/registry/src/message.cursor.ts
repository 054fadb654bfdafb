import { InvalidRegistryArgumentError, StaleEpochError, UnexpectedRedisReplyError } from './errors';
import {
  DEFAULT_KEY_PREFIX,
  assertEpoch,
  assertValidKeyPrefix,
  scaleSetKeys,
  type ScaleSetKeys,
} from './registry.keys';
import {
  CURSOR_SET_LUA,
  defineScript,
  type RedisClient,
  type ScriptRunner,
} from './registry.scripts';
import { integerReply, statusReply } from './redis.reply';

/** Options of {@link MessageCursor}. */
export interface MessageCursorOptions {
  /** Key prefix (default `scaleset`); must match the registry's. */
  readonly prefix?: string;
}

/**
 * The id of the last message the leader processed, per scale set, so a new leader resumes
 * from it (`lastMessageId`). It never moves backwards, and only the current leader moves it.
 */
export class MessageCursor {
  private readonly prefix: string;
  private readonly setScript: ScriptRunner;

  constructor(
    private readonly redis: RedisClient,
    options: MessageCursorOptions = {},
  ) {
    this.prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
    assertValidKeyPrefix(this.prefix);
    this.setScript = defineScript(redis, 'scalesetCursorSetV1', CURSOR_SET_LUA);
  }

  /** The last processed message id, or 0 (the protocol's "from the start") when there is none. */
  async getCursor(scaleSetId: number): Promise<number> {
    const value = await this.redis.get(this.keys(scaleSetId).cursor);
    return value === null ? 0 : integerReply(value, 'get cursor', scaleSetId);
  }

  /**
   * Moves the cursor to `messageId` if that is ahead of it. Returns false when the cursor was
   * already there or beyond (a duplicate or reordered message).
   *
   * @throws {@link StaleEpochError} when `epoch` is not the current epoch.
   */
  async setCursor(scaleSetId: number, messageId: number, epoch: number): Promise<boolean> {
    const keys = this.keys(scaleSetId);
    assertEpoch(epoch, scaleSetId);
    if (!Number.isSafeInteger(messageId) || messageId <= 0) {
      throw new InvalidRegistryArgumentError(
        'message id',
        `${messageId} is not a positive integer`,
        scaleSetId,
      );
    }
    const reply = statusReply(
      await this.setScript([keys.epoch, keys.cursor], [String(epoch), String(messageId)]),
      'set cursor',
      scaleSetId,
    );
    switch (reply.status) {
      case 'applied':
        return true;
      case 'unchanged':
        return false;
      case 'stale':
        throw new StaleEpochError(scaleSetId, epoch, Number(reply.detail), 'cursor');
      default:
        throw new UnexpectedRedisReplyError('set cursor', scaleSetId);
    }
  }

  private keys(scaleSetId: number): ScaleSetKeys {
    return scaleSetKeys(this.prefix, scaleSetId);
  }
}
