import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UiConfig } from '@app/config';

/** A Connect-style middleware, as Nest's `MiddlewareConsumer.apply` takes. */
export type UiMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

const REALM = 'Basic realm="scaleset", charset="UTF-8"';

// Hashing first gives both sides the same length, so timingSafeEqual neither throws nor
// reveals the secret's length through an early return.
function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function sameSecret(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

/**
 * Whether an `Authorization` header value carries the configured basic credentials or bearer
 * token. Every configured check runs (no short circuit), each in constant time.
 */
export function createUiAuthCheck(
  ui: Pick<UiConfig, 'basic' | 'token'>,
): (header: string | undefined) => boolean {
  const user = ui.basic && digest(ui.basic.username);
  const password = ui.basic && digest(ui.basic.password);
  const token = ui.token === undefined ? undefined : digest(ui.token);
  if (user === undefined && token === undefined) {
    // No credentials: config validation allows this only on a loopback-bound server.
    return () => true;
  }
  return (header) => {
    const m = /^\s*(\w+)\s+(\S+)\s*$/.exec(header ?? '');
    const scheme = m?.[1]?.toLowerCase() ?? '';
    const value = m?.[2] ?? '';
    let basicOk = false;
    if (user !== undefined && password !== undefined && scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const userOk = sameSecret(colon < 0 ? '' : decoded.slice(0, colon), user);
      const passwordOk = sameSecret(colon < 0 ? '' : decoded.slice(colon + 1), password);
      basicOk = colon >= 0 && userOk && passwordOk;
    }
    let tokenOk = false;
    if (token !== undefined && scheme === 'bearer') {
      tokenOk = sameSecret(value, token);
    }
    return basicOk || tokenOk;
  };
}

/**
 * Guards Bull Board: answers 401 with a basic challenge unless the request carries the
 * configured credentials. Never logs or echoes what was sent.
 */
export function createUiAuthMiddleware(ui: Pick<UiConfig, 'basic' | 'token'>): UiMiddleware {
  const check = createUiAuthCheck(ui);
  return (req, res, next) => {
    if (check(req.headers.authorization)) {
      next();
      return;
    }
    res.statusCode = 401;
    if (ui.basic !== undefined) {
      res.setHeader('WWW-Authenticate', REALM);
    } else {
      res.setHeader('WWW-Authenticate', 'Bearer realm="scaleset"');
    }
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end('authentication required\n');
  };
}
