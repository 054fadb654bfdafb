import { abortable } from './admin-token.provider';
import { isLoopbackHost } from '@app/config';
import {
  createApiError,
  MessageQueueTokenExpiredError,
  ScaleSetArgumentError,
  type ScaleSetApiError,
} from './errors';
import type { HttpRequest, HttpResponse, HttpTransport } from './http.transport';
import {
  buildDeleteMessageUrl,
  buildGetMessageUrl,
  safePath,
  safeUrl,
} from './request-url.builder';
import { errorFromResponse } from './response.decoder';
import type { SecretRedactor } from './secret.redactor';
import type { RunnerScaleSetMessage, RunnerScaleSetSession } from './scaleset.types';

/** What a session client needs from its parent {@link ScaleSetClient}. */
export interface MessageSessionHost {
  readonly transport: HttpTransport;
  readonly redactor: SecretRedactor;
  refreshMessageSession(
    scaleSetId: number,
    sessionId: string,
    signal?: AbortSignal,
  ): Promise<RunnerScaleSetSession>;
  deleteMessageSession(scaleSetId: number, sessionId: string, signal?: AbortSignal): Promise<void>;
  /** Sends acquire-jobs with the queue token; returns the raw exchange. */
  sendAcquireJobs(
    scaleSetId: number,
    queueToken: string,
    requestIds: readonly number[],
    signal?: AbortSignal,
  ): Promise<{ request: HttpRequest; response: HttpResponse }>;
  decodeMessage(request: HttpRequest, response: HttpResponse): RunnerScaleSetMessage;
  decodeAcquiredJobs(request: HttpRequest, response: HttpResponse): number[];
}

type Attempt<T> =
  | { readonly expired: false; readonly value: T }
  | { readonly expired: true; readonly request: HttpRequest; readonly response: HttpResponse };

function assertCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ScaleSetArgumentError(name, 'must be a non-negative integer');
  }
}

/**
 * Talks to one message session: long poll, ack, acquire jobs (§4.14–§4.16). On 401 it
 * refreshes the session once and retries the call once; a second 401 is a
 * {@link MessageQueueTokenExpiredError} (§7.4). Obtain it from
 * `ScaleSetClient.createMessageSessionClient` or `ScaleSetClient.messageSessionClientFor`.
 */
export class MessageSessionClient {
  /** The scale set this session belongs to. */
  readonly scaleSetId: number;
  readonly #host: MessageSessionHost;
  // Snapshot taken at creation: get/delete message carry it, like the SDK (§3.3).
  readonly #userAgent: string;
  #session: RunnerScaleSetSession;
  #refreshing: Promise<void> | undefined;

  constructor(
    host: MessageSessionHost,
    scaleSetId: number,
    session: RunnerScaleSetSession,
    userAgent: string,
  ) {
    this.#host = host;
    this.scaleSetId = scaleSetId;
    this.#session = session;
    this.#userAgent = userAgent;
    host.redactor.add(session.messageQueueAccessToken);
  }

  /** The current session; replaced by every refresh. */
  get session(): RunnerScaleSetSession {
    return this.#session;
  }

  /**
   * Long-polls for the next message. `null` means 202 (no message yet): poll again.
   * `maxCapacity` is the scale set's maximum runner count (`X-ScaleSetMaxCapacity`).
   */
  async getMessage(
    lastMessageId: number,
    maxCapacity: number,
    signal?: AbortSignal,
  ): Promise<RunnerScaleSetMessage | null> {
    assertCount('lastMessageId', lastMessageId);
    assertCount('maxCapacity', maxCapacity);
    return this.#withTokenRefresh(signal, async (session) => {
      const request: HttpRequest = {
        method: 'GET',
        url: buildGetMessageUrl(this.#queueUrl(session).href, lastMessageId),
        headers: {
          authorization: `Bearer ${session.messageQueueAccessToken}`,
          accept: 'application/json; api-version=6.0-preview',
          'x-scalesetmaxcapacity': String(maxCapacity),
          'user-agent': this.#userAgent,
        },
        signal,
      };
      const response = await this.#host.transport.send(request);
      switch (response.status) {
        case 401:
          return { expired: true, request, response };
        case 202:
          return { expired: false, value: null };
        case 200:
          return { expired: false, value: this.#host.decodeMessage(request, response) };
        default:
          throw errorFromResponse(request, response, this.#host.redactor, {
            reason: 'failed to get message',
          });
      }
    });
  }

  /** Acknowledges (deletes) a message; only 204 is success (§4.15). */
  async deleteMessage(messageId: number, signal?: AbortSignal): Promise<void> {
    assertCount('messageId', messageId);
    await this.#withTokenRefresh(signal, async (session) => {
      const request: HttpRequest = {
        method: 'DELETE',
        url: buildDeleteMessageUrl(this.#queueUrl(session).href, messageId),
        headers: {
          authorization: `Bearer ${session.messageQueueAccessToken}`,
          'content-type': 'application/json',
          'user-agent': this.#userAgent,
        },
        signal,
      };
      const response = await this.#host.transport.send(request);
      if (response.status === 401) {
        return { expired: true, request, response };
      }
      if (response.status !== 204) {
        throw errorFromResponse(request, response, this.#host.redactor, {
          reason: 'failed to delete message',
        });
      }
      return { expired: false, value: undefined };
    });
  }

  /** Acquires `JobAvailable` jobs by runner request id; returns the ids actually acquired. */
  async acquireJobs(requestIds: readonly number[], signal?: AbortSignal): Promise<number[]> {
    requestIds.forEach((id, i) => {
      assertCount(`requestIds[${i}]`, id);
    });
    return this.#withTokenRefresh(signal, async (session) => {
      const { request, response } = await this.#host.sendAcquireJobs(
        this.scaleSetId,
        session.messageQueueAccessToken,
        requestIds,
        signal,
      );
      if (response.status === 401) {
        return { expired: true, request, response };
      }
      if (response.status !== 200) {
        throw errorFromResponse(request, response, this.#host.redactor, {
          reason: 'failed to acquire jobs',
        });
      }
      return { expired: false, value: this.#host.decodeAcquiredJobs(request, response) };
    });
  }

  /** Deletes the session on the service (§4.13), e.g. on shutdown. */
  async close(signal?: AbortSignal): Promise<void> {
    await this.#host.deleteMessageSession(this.scaleSetId, this.#session.sessionId, signal);
  }

  async #withTokenRefresh<T>(
    signal: AbortSignal | undefined,
    call: (session: RunnerScaleSetSession) => Promise<Attempt<T>>,
  ): Promise<T> {
    const used = this.#session;
    const first = await call(used);
    if (!first.expired) {
      return first.value;
    }
    await this.#refresh(used, signal);
    const second = await call(this.#session);
    if (!second.expired) {
      return second.value;
    }
    throw errorFromResponse(second.request, second.response, this.#host.redactor, {
      reason: 'message queue token expired',
      forced: MessageQueueTokenExpiredError,
    });
  }

  async #refresh(used: RunnerScaleSetSession, signal: AbortSignal | undefined): Promise<void> {
    if (this.#session !== used) {
      // Another call already refreshed after this one started; just retry with the new token.
      return;
    }
    this.#refreshing ??= this.#host
      .refreshMessageSession(this.scaleSetId, used.sessionId)
      .then((session) => {
        this.#host.redactor.add(session.messageQueueAccessToken);
        this.#session = session;
      })
      .finally(() => {
        this.#refreshing = undefined;
      });
    await abortable(this.#refreshing, signal);
  }

  #queueUrl(session: RunnerScaleSetSession): URL {
    let url: URL | undefined;
    try {
      url = new URL(session.messageQueueUrl);
    } catch {
      url = undefined;
    }
    const allowed =
      url !== undefined &&
      (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname)));
    if (url === undefined || !allowed) {
      throw this.#invalidQueueUrl(url);
    }
    return url;
  }

  #invalidQueueUrl(url: URL | undefined): ScaleSetApiError {
    return createApiError(
      {
        method: 'GET',
        url: url === undefined ? '(none)' : safeUrl(url),
        path: url === undefined ? '' : safePath(url),
        reason: 'the session has no usable messageQueueUrl',
        detail: 'expected an absolute https URL (plain http only for loopback hosts)',
        transportRetryable: false,
      },
      { rateLimited: false },
    );
  }
}
