import { posix } from 'node:path';

/** `api-version` sent on every Actions service management request (§3.2). */
export const ACTIONS_API_VERSION = '6.0-preview';

type QueryValue = string | number;

function sortQuery(params: URLSearchParams): string {
  params.sort();
  return params.toString();
}

/**
 * Joins the Actions service URL and an endpoint path (§3.2): path-join semantics,
 * the service URL's own query overlaid with `query`, `api-version` added when absent,
 * keys sorted, form-style escaping. Names are escaped properly (unlike the Go SDK).
 */
export function buildServiceUrl(
  serviceUrl: string | URL,
  path: string,
  query: Readonly<Record<string, QueryValue>> = {},
): URL {
  const url = new URL(serviceUrl);
  const joined = posix.join(url.pathname, path);
  url.pathname = joined;
  const params = new URLSearchParams(url.search);
  for (const [key, value] of Object.entries(query)) {
    params.set(key, String(value));
  }
  if (!params.has('api-version')) {
    params.set('api-version', ACTIONS_API_VERSION);
  }
  url.search = sortQuery(params);
  url.hash = '';
  return url;
}

/** Long-poll URL (§4.14): the queue URL as given, `lastMessageId` set when > 0. */
export function buildGetMessageUrl(messageQueueUrl: string, lastMessageId: number): URL {
  const url = new URL(messageQueueUrl);
  if (lastMessageId > 0) {
    const params = new URLSearchParams(url.search);
    params.set('lastMessageId', String(lastMessageId));
    url.search = sortQuery(params);
  }
  return url;
}

/**
 * Ack URL (§4.15): `/<messageId>` appended to the queue URL's path as is (a path ending
 * in `/` gives `//<id>`, like the SDK), query kept.
 */
export function buildDeleteMessageUrl(messageQueueUrl: string, messageId: number): URL {
  const url = new URL(messageQueueUrl);
  const rawPath = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/.exec(messageQueueUrl)?.[1] ?? '';
  url.pathname = `${rawPath}/${messageId}`;
  return url;
}

const SECRET_QUERY_KEY = /token|sig|secret|key|code|auth|jwt|pass|credential/i;

/** Path plus query for errors and logs, with values of secret-looking parameters masked. */
export function safePath(url: URL): string {
  if (url.search === '') {
    return url.pathname;
  }
  const params = new URLSearchParams(url.search);
  const safe = new URLSearchParams();
  for (const [key, value] of params) {
    safe.append(key, SECRET_QUERY_KEY.test(key) ? 'REDACTED' : value);
  }
  return `${url.pathname}?${safe.toString()}`;
}

/** Origin plus {@link safePath}: never contains user-info. */
export function safeUrl(url: URL): string {
  return `${url.origin}${safePath(url)}`;
}
