import { InvalidConfigUrlError } from './errors';
import { parseGitHubConfigUrl } from './config-url.parser';

const NO_ENV = {};

describe('parseGitHubConfigUrl', () => {
  it.each([
    ['https://github.com/org/repo', 'repository', undefined, 'org', 'repo', true],
    ['https://github.com/org/repo/', 'repository', undefined, 'org', 'repo', true],
    ['https://github.com/org', 'organization', undefined, 'org', undefined, true],
    [
      'https://github.com/enterprises/my-enterprise',
      'enterprise',
      'my-enterprise',
      undefined,
      undefined,
      true,
    ],
    [
      'https://github.com/enterprises/my-enterprise/',
      'enterprise',
      'my-enterprise',
      undefined,
      undefined,
      true,
    ],
    ['https://www.github.com/org', 'organization', undefined, 'org', undefined, true],
    ['https://github.localhost/org', 'organization', undefined, 'org', undefined, true],
    ['https://my-ghes.com/org', 'organization', undefined, 'org', undefined, false],
    ['https://my-ghes.ghe.com/org/', 'organization', undefined, 'org', undefined, true],
    ['https://github.com/enterprises', 'organization', undefined, 'enterprises', undefined, true],
    ['https://github.com/Org/Repo', 'repository', undefined, 'Org', 'Repo', true],
  ])('%s → %s', (url, scope, enterprise, organization, repository, hosted) => {
    const parsed = parseGitHubConfigUrl(url, NO_ENV);
    expect(parsed.scope).toBe(scope);
    expect(parsed.enterprise).toBe(enterprise);
    expect(parsed.organization).toBe(organization);
    expect(parsed.repository).toBe(repository);
    expect(parsed.isHosted).toBe(hosted);
  });

  it.each(['https://github.com/', 'https://github.com', 'https://github.com/some/random/path'])(
    'rejects %s',
    (url) => {
      expect(() => parseGitHubConfigUrl(url, NO_ENV)).toThrow(InvalidConfigUrlError);
    },
  );

  it('drops the trailing slash from the URL sent to runner-registration', () => {
    expect(parseGitHubConfigUrl('https://github.com/org/repo/', NO_ENV).configUrl).toBe(
      'https://github.com/org/repo',
    );
  });

  it.each([
    ['https://github.com/org/repo', 'https://api.github.com/app/installations/123/access_tokens'],
    [
      'https://www.github.com/org/repo',
      'https://api.github.com/app/installations/123/access_tokens',
    ],
    [
      'http://github.localhost/org/repo',
      'http://api.github.localhost/app/installations/123/access_tokens',
    ],
    [
      'https://my-instance.com/org/repo',
      'https://my-instance.com/api/v3/app/installations/123/access_tokens',
    ],
    ['http://localhost/org/repo', 'http://localhost/api/v3/app/installations/123/access_tokens'],
    [
      'https://github.ghe.com/org/repo',
      'https://api.github.ghe.com/app/installations/123/access_tokens',
    ],
    [
      'https://ghes.example:8443/org',
      'https://ghes.example:8443/api/v3/app/installations/123/access_tokens',
    ],
  ])('API URL for %s (§1.3)', (url, expected) => {
    expect(
      parseGitHubConfigUrl(url, NO_ENV).apiBaseUrl('/app/installations/123/access_tokens'),
    ).toBe(expected);
  });

  it('GITHUB_ACTIONS_FORCE_GHES (even empty) forces the GHES layout', () => {
    const parsed = parseGitHubConfigUrl('https://test.ghe.com/org/repo', {
      GITHUB_ACTIONS_FORCE_GHES: '',
    });
    expect(parsed.isHosted).toBe(false);
    expect(parsed.apiBaseUrl('/x')).toBe('https://test.ghe.com/api/v3/x');
  });

  it('an explicit port makes github.com GHES, as in the SDK', () => {
    expect(parseGitHubConfigUrl('https://github.com:443/org', NO_ENV).isHosted).toBe(false);
  });

  it('.ghe.com suffix is case-sensitive, github.com is not', () => {
    expect(parseGitHubConfigUrl('https://GitHub.com/org', NO_ENV).isHosted).toBe(true);
    expect(parseGitHubConfigUrl('https://x.GHE.com/org', NO_ENV).isHosted).toBe(false);
  });

  it.each([
    ['/orgs/org/actions/runners/registration-token', 'https://github.com/org'],
    ['/repos/org/repo/actions/runners/registration-token', 'https://github.com/org/repo'],
    ['/enterprises/ent/actions/runners/registration-token', 'https://github.com/enterprises/ent'],
  ])('registration token path %s', (path, url) => {
    expect(parseGitHubConfigUrl(url, NO_ENV).registrationTokenPath).toBe(path);
  });

  it.each([
    'http://127.0.0.1:8080/org',
    'http://127.1.2.3/org',
    'http://[::1]:3000/org/repo',
    'http://localhost:3000/org',
  ])('allows plain http for loopback %s', (url) => {
    expect(parseGitHubConfigUrl(url, NO_ENV).isHosted).toBe(false);
  });

  it.each([
    ['http://github.com/org', 'plain http'],
    ['http://10.0.0.1/org', 'plain http'],
    ['http://128.0.0.1/org', 'plain http'],
    ['github.com/org/repo', 'not an absolute URL'],
    ['org/repo', 'not an absolute URL'],
    ['ftp://github.com/org', 'scheme must be https'],
    ['https://user:secret-pass@github.com/org', 'credentials'],
  ])('rejects %s with a clear reason', (url, reason) => {
    let error: unknown;
    try {
      parseGitHubConfigUrl(url, NO_ENV);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidConfigUrlError);
    expect((error as Error).message).toContain(reason);
    expect((error as Error).message).not.toContain('secret-pass');
  });

  it('reads GITHUB_ACTIONS_FORCE_GHES from process.env by default', () => {
    expect(parseGitHubConfigUrl('https://github.com/org').isHosted).toBe(
      process.env.GITHUB_ACTIONS_FORCE_GHES === undefined,
    );
  });
});
