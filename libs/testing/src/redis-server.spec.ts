import { randomTestPrefix, redisUrlForTests } from './redis-server';

describe('redisUrlForTests', () => {
  const saved = process.env['REDIS_URL'];

  afterEach(() => {
    if (saved === undefined) {
      delete process.env['REDIS_URL'];
    } else {
      process.env['REDIS_URL'] = saved;
    }
  });

  it('returns REDIS_URL when it is set', () => {
    process.env['REDIS_URL'] = 'redis://127.0.0.1:1234';
    expect(redisUrlForTests()).toBe('redis://127.0.0.1:1234');
  });

  it('explains how to run the tests when REDIS_URL is missing', () => {
    delete process.env['REDIS_URL'];
    expect(() => redisUrlForTests()).toThrow(/npm test/);
  });
});

describe('randomTestPrefix', () => {
  it('gives a fresh prefix each time', () => {
    const a = randomTestPrefix();
    expect(a).toMatch(/^test-[0-9a-f-]{36}$/);
    expect(randomTestPrefix()).not.toBe(a);
    expect(randomTestPrefix('q')).toMatch(/^q-/);
  });
});
