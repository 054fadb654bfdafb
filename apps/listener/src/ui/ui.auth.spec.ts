import { createUiAuthCheck } from './ui.auth';

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('createUiAuthCheck', () => {
  const both = createUiAuthCheck({
    basic: { username: 'ops', password: 'correct horse' },
    token: 'tok-123',
  });

  it('accepts the configured basic credentials or bearer token', () => {
    expect(both(basic('ops', 'correct horse'))).toBe(true);
    expect(both('Bearer tok-123')).toBe(true);
    expect(both('bearer tok-123')).toBe(true);
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['a wrong password', basic('ops', 'correct horsE')],
    ['a wrong user', basic('admin', 'correct horse')],
    ['a password with a suffix', basic('ops', 'correct horse!')],
    ['no colon', `Basic ${Buffer.from('ops').toString('base64')}`],
    ['a wrong token', 'Bearer tok-124'],
    ['the token sent as basic', `Basic tok-123`],
    ['the password sent as bearer', 'Bearer correct horse'],
    ['an unknown scheme', 'Digest tok-123'],
  ])('rejects %s', (_what, header) => {
    expect(both(header)).toBe(false);
  });

  it('does not accept a bearer token when only basic auth is configured', () => {
    const onlyBasic = createUiAuthCheck({ basic: { username: 'ops', password: 'pw' } });
    expect(onlyBasic(basic('ops', 'pw'))).toBe(true);
    expect(onlyBasic('Bearer pw')).toBe(false);
  });

  it('lets everything through without credentials (loopback only, checked by config)', () => {
    expect(createUiAuthCheck({})(undefined)).toBe(true);
  });
});
