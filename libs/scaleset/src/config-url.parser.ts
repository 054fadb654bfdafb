import { isLoopbackHost } from '@app/config';
import { InvalidConfigUrlError } from './errors';

/** Registration target kind of a config URL (§1.1). */
export type GitHubConfigScope = 'repository' | 'organization' | 'enterprise';

/** A parsed, validated config URL (§1). */
export interface GitHubConfigUrl {
  readonly scope: GitHubConfigScope;
  readonly enterprise?: string;
  readonly organization?: string;
  readonly repository?: string;
  /** github.com, GHE.com or github.localhost (and GITHUB_ACTIONS_FORCE_GHES is unset). */
  readonly isHosted: boolean;
  /** Normalised URL, sent as `url` to `actions/runner-registration` (§2.4). */
  readonly configUrl: string;
  /** GitHub REST API URL for `path` (which starts with `/`), per §1.3. */
  apiBaseUrl(path: string): string;
  /** Path of the registration-token endpoint for this scope (§2.3). */
  readonly registrationTokenPath: string;
}

const HOSTED_HOSTS = ['github.com', 'www.github.com', 'github.localhost'];

/**
 * Parses a repository, organization or enterprise URL as the Go SDK does (§1), but
 * stricter: it must be an absolute http(s) URL without user-info, and plain `http` is
 * only allowed for loopback hosts.
 *
 * @param env - environment to read `GITHUB_ACTIONS_FORCE_GHES` from (default `process.env`).
 * @throws InvalidConfigUrlError
 */
export function parseGitHubConfigUrl(
  url: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): GitHubConfigUrl {
  const trimmed = url.replace(/^\/+|\/+$/g, '');
  const shown = trimmed.replace(/\/\/[^/@?#]*@/, '//');
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch (err) {
    throw new InvalidConfigUrlError(shown, 'not an absolute URL', { cause: err });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new InvalidConfigUrlError(shown, `scheme must be https (got ${parsed.protocol})`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new InvalidConfigUrlError(shown, 'credentials in the URL are not allowed');
  }
  if (parsed.protocol === 'http:' && !isLoopbackHost(parsed.hostname)) {
    throw new InvalidConfigUrlError(
      shown,
      'plain http is only allowed for loopback hosts (127.0.0.0/8, ::1, localhost); use https',
    );
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw new InvalidConfigUrlError(shown, 'query strings and fragments are not allowed');
  }

  const segments = parsed.pathname
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .map((segment) => {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    });
  const [first = '', second] = segments;
  let scope: GitHubConfigScope;
  let target: { enterprise?: string; organization?: string; repository?: string };
  if (segments.length === 1 && first !== '') {
    scope = 'organization';
    target = { organization: first };
  } else if (segments.length === 2 && second !== undefined && second !== '' && first !== '') {
    if (first.toLowerCase() === 'enterprises') {
      scope = 'enterprise';
      target = { enterprise: second };
    } else {
      scope = 'repository';
      target = { organization: first, repository: second };
    }
  } else {
    throw new InvalidConfigUrlError(
      shown,
      'the path must be /<org>, /<owner>/<repo> or /enterprises/<enterprise>',
    );
  }

  // The hosted check uses the authority as written: an explicit port (even :443) makes
  // the URL GHES in the Go SDK, while WHATWG URL parsing drops default ports.
  const rawAuthority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(trimmed)?.[1] ?? parsed.host;
  const forceGhes = env.GITHUB_ACTIONS_FORCE_GHES !== undefined;
  const isHosted =
    !forceGhes &&
    (HOSTED_HOSTS.includes(rawAuthority.toLowerCase()) || rawAuthority.endsWith('.ghe.com'));

  const scheme = parsed.protocol;
  let apiBase: string;
  if (!isHosted) {
    apiBase = `${scheme}//${parsed.host}/api/v3`;
  } else if (parsed.hostname === 'www.github.com') {
    apiBase = `${scheme}//api.github.com`;
  } else {
    apiBase = `${scheme}//api.${parsed.hostname}`;
  }

  const enc = encodeURIComponent;
  let registrationTokenPath: string;
  switch (scope) {
    case 'organization':
      registrationTokenPath = `/orgs/${enc(first)}/actions/runners/registration-token`;
      break;
    case 'enterprise':
      registrationTokenPath = `/enterprises/${enc(second ?? '')}/actions/runners/registration-token`;
      break;
    case 'repository':
      registrationTokenPath = `/repos/${enc(first)}/${enc(second ?? '')}/actions/runners/registration-token`;
      break;
  }

  return Object.freeze({
    scope,
    ...target,
    isHosted,
    configUrl: parsed.href,
    registrationTokenPath,
    apiBaseUrl: (path: string) => `${apiBase}${path}`,
  });
}
