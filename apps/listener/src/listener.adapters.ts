import type { LeaseManager, MessageCursor } from '@app/registry';
import type { MessageSessionClient, ScaleSetClient } from '@app/scaleset';
import type { Logger } from '@app/telemetry';
import type { HeldLease, LeaderElection, ListenerSession, SessionFactory } from './listener.ports';

/** The scale set's lease, cursor and session slot in Redis, behind the listener's port. */
export class RedisLeaderElection implements LeaderElection {
  constructor(
    private readonly leases: LeaseManager,
    private readonly cursor: MessageCursor,
    private readonly scaleSetId: number,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {}

  private lastHolderTtlMs: number | undefined;

  async tryAcquire(): Promise<HeldLease | null> {
    this.lastHolderTtlMs = undefined;
    const { lease, holderTtlMs } = await this.leases.tryAcquire(this.scaleSetId, this.ttlMs);
    if (lease === undefined) {
      this.lastHolderTtlMs = holderTtlMs;
      return null;
    }
    const lost = new AbortController();
    lease.startAutoRenew({
      onLost: (reason, cause) => {
        this.logger.warn({ reason, err: cause, epoch: lease.epoch }, 'lease lost');
        lost.abort(new Error(`lease lost: ${reason}`));
      },
      onRenewalError: (err) => {
        this.logger.warn({ err, epoch: lease.epoch }, 'lease renewal failed; retrying');
      },
    });
    return {
      epoch: lease.epoch,
      lost: lost.signal,
      release: async () => {
        await lease.release();
      },
    };
  }

  holderTtlMs(): number | undefined {
    return this.lastHolderTtlMs;
  }

  getCursor(): Promise<number> {
    return this.cursor.getCursor(this.scaleSetId);
  }

  async setCursor(messageId: number, epoch: number): Promise<void> {
    await this.cursor.setCursor(this.scaleSetId, messageId, epoch);
  }

  async getSessionId(): Promise<string | null> {
    return (await this.leases.getSessionId(this.scaleSetId)) ?? null;
  }

  async setSessionId(sessionId: string | null, epoch: number): Promise<void> {
    if (sessionId === null) {
      await this.leases.clearSessionId(this.scaleSetId, epoch);
    } else {
      await this.leases.setSessionId(this.scaleSetId, sessionId, epoch);
    }
  }
}

function toListenerSession(client: MessageSessionClient): ListenerSession {
  return {
    // The session object is replaced on refresh; read it at each use.
    get sessionId() {
      return client.session.sessionId;
    },
    get statistics() {
      return client.session.statistics;
    },
    getMessage: (lastMessageId, maxCapacity, signal) =>
      client.getMessage(lastMessageId, maxCapacity, signal),
    deleteMessage: (messageId, signal) => client.deleteMessage(messageId, signal),
    acquireJobs: (ids, signal) => client.acquireJobs(ids, signal),
  };
}

/** Message sessions of one scale set through the scale set client. */
export class ClientSessionFactory implements SessionFactory {
  constructor(
    private readonly client: ScaleSetClient,
    private readonly scaleSetId: number,
  ) {}

  async create(ownerName: string, signal?: AbortSignal): Promise<ListenerSession> {
    return toListenerSession(
      await this.client.createMessageSessionClient(this.scaleSetId, ownerName, signal),
    );
  }

  async delete(sessionId: string, signal?: AbortSignal): Promise<void> {
    await this.client.deleteMessageSession(this.scaleSetId, sessionId, signal);
  }
}
