import { createHmac, createVerify, timingSafeEqual, type KeyObject } from 'node:crypto';

/** Claims of a JWT as the fake reads them (unknown claims kept). */
export type JwtClaims = Record<string, unknown>;

function base64url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

/** Signs `claims` as an HS256 JWT with `secret`. */
export function signJwtHs256(claims: JwtClaims, secret: Buffer): string {
  const head = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = base64url(JSON.stringify(claims));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

interface DecodedJwt {
  header: Record<string, unknown>;
  claims: JwtClaims;
  signingInput: string;
  signature: Buffer;
}

function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) {
    return undefined;
  }
  const [head = '', body = '', sig = ''] = parts;
  try {
    const header: unknown = JSON.parse(Buffer.from(head, 'base64url').toString('utf8'));
    const claims: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    if (!isRecord(header) || !isRecord(claims)) {
      return undefined;
    }
    return {
      header,
      claims,
      signingInput: `${head}.${body}`,
      signature: Buffer.from(sig, 'base64url'),
    };
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Returns the claims of an HS256 JWT signed with `secret`, or `undefined` if it is not one. */
export function verifyJwtHs256(token: string, secret: Buffer): JwtClaims | undefined {
  const jwt = decodeJwt(token);
  if (jwt?.header.alg !== 'HS256') {
    return undefined;
  }
  const expected = createHmac('sha256', secret).update(jwt.signingInput).digest();
  if (expected.length !== jwt.signature.length || !timingSafeEqual(expected, jwt.signature)) {
    return undefined;
  }
  return jwt.claims;
}

/** Returns the claims of an RS256 JWT signed by the key pair of `publicKey`, or `undefined`. */
export function verifyJwtRs256(token: string, publicKey: KeyObject): JwtClaims | undefined {
  const jwt = decodeJwt(token);
  if (jwt?.header.alg !== 'RS256') {
    return undefined;
  }
  const ok = createVerify('RSA-SHA256').update(jwt.signingInput).verify(publicKey, jwt.signature);
  return ok ? jwt.claims : undefined;
}

/** Epoch seconds now. */
export function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}
