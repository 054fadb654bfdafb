const REDACTED = '[REDACTED]';

// Shapes of credentials that may reach a string even when the client never saw the exact
// value (e.g. a server echoing a token it minted): JWTs, GitHub token prefixes, PEM keys,
// and the value after an auth scheme.
const SECRET_PATTERNS: readonly RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  /\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g,
  /\b(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{10,}/g,
  /\b(Bearer|RemoteAuth)\s+[^\s"',;]+/g,
  /("(?:token|encodedJITConfig|messageQueueAccessToken|privateKey|private_key)"\s*:\s*)"[^"]*"/gi,
];

// Below this length a "secret" is more likely a test placeholder; replacing it everywhere
// would garble ordinary words in messages.
const MIN_SECRET_LENGTH = 6;
const MAX_REMEMBERED = 64;

/**
 * Removes credentials from text before it reaches an error message or a log line.
 * It knows the exact secrets the client handled (bounded, most recent first) and
 * also masks anything shaped like a credential.
 */
export class SecretRedactor {
  readonly #secrets = new Set<string>();

  /** Remembers a secret value so that every later {@link redact} masks it. */
  add(secret: string | undefined | null): void {
    if (secret === undefined || secret === null || secret.length < MIN_SECRET_LENGTH) {
      return;
    }
    this.#secrets.delete(secret);
    this.#secrets.add(secret);
    if (this.#secrets.size > MAX_REMEMBERED) {
      const oldest = this.#secrets.values().next();
      if (oldest.done !== true) {
        this.#secrets.delete(oldest.value);
      }
    }
  }

  /** Returns `text` with every known secret and credential-shaped substring replaced. */
  redact(text: string): string {
    let out = text;
    // Longest first, so a secret containing another is masked whole.
    const known = [...this.#secrets].sort((a, b) => b.length - a.length);
    for (const secret of known) {
      out = out.split(secret).join(REDACTED);
    }
    for (const pattern of SECRET_PATTERNS) {
      out = out.replace(pattern, (match: string, prefix?: unknown) => {
        if (typeof prefix === 'string' && prefix.length > 0 && match.startsWith(prefix)) {
          return prefix.startsWith('"') ? `${prefix}"${REDACTED}"` : `${prefix} ${REDACTED}`;
        }
        return REDACTED;
      });
    }
    return out;
  }
}
