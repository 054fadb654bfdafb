import {
  buildDeleteMessageUrl,
  buildGetMessageUrl,
  buildServiceUrl,
  safePath,
} from './request-url.builder';
import { buildUserAgent, DEFAULT_SYSTEM_INFO } from './user-agent.builder';

describe('buildServiceUrl (§3.2)', () => {
  it('joins paths and adds api-version with sorted keys', () => {
    const url = buildServiceUrl('https://x.example/tenant/123/', '/_apis/runtime/runnerscalesets', {
      runnerGroupId: 1,
      name: 'my-set',
    });
    expect(url.href).toBe(
      'https://x.example/tenant/123/_apis/runtime/runnerscalesets?api-version=6.0-preview&name=my-set&runnerGroupId=1',
    );
  });

  it('keeps a trailing slash on the endpoint path and collapses duplicate slashes', () => {
    const url = buildServiceUrl('https://x.example/tenant//123', '/_apis/runtime/runnergroups/', {
      groupName: 'Default',
    });
    expect(url.pathname).toBe('/tenant/123/_apis/runtime/runnergroups/');
    expect(url.search).toBe('?api-version=6.0-preview&groupName=Default');
  });

  it('overlays the service URL query and keeps an explicit api-version', () => {
    const url = buildServiceUrl('https://x.example/t/?z=1&api-version=7.0', '/a', { b: 'c' });
    expect(url.search).toBe('?api-version=7.0&b=c&z=1');
  });

  it('escapes names properly instead of mangling them', () => {
    const name = 'a b&c+d;e%f#g';
    const url = buildServiceUrl('https://x.example/t/', '/_apis/distributedtask/pools/0/agents', {
      agentName: name,
    });
    expect(url.searchParams.get('agentName')).toBe(name);
    expect(url.search).toContain('agentName=a+b%26c%2Bd%3Be%25f%23g');
  });
});

describe('message queue URLs (§4.14/§4.15)', () => {
  it('omits lastMessageId when 0 and sets it (sorted) when > 0', () => {
    expect(buildGetMessageUrl('https://b.example/scalesets/message', 0).href).toBe(
      'https://b.example/scalesets/message',
    );
    expect(
      buildGetMessageUrl('https://b.example/scalesets/message?z=1&lastMessageId=3', 171).href,
    ).toBe('https://b.example/scalesets/message?lastMessageId=171&z=1');
  });

  it('appends the id to the path without normalising and keeps the query', () => {
    expect(buildDeleteMessageUrl('https://b.example/scalesets/message?x=1', 171).href).toBe(
      'https://b.example/scalesets/message/171?x=1',
    );
    expect(buildDeleteMessageUrl('https://b.example/m/', 5).pathname).toBe('/m//5');
    expect(buildDeleteMessageUrl('https://b.example', 5).pathname).toBe('/5');
  });

  it('masks secret-looking query values in safe paths', () => {
    expect(safePath(new URL('https://b.example/m?sig=abc&lastMessageId=4&token=t'))).toBe(
      '/m?sig=REDACTED&lastMessageId=4&token=REDACTED',
    );
  });
});

describe('buildUserAgent (§3.3)', () => {
  it('is compact JSON with the SDK key order', () => {
    const ua = buildUserAgent({ ...DEFAULT_SYSTEM_INFO, scaleSetId: 117, subsystem: 'listener' });
    expect(Object.keys(JSON.parse(ua) as object)).toEqual([
      'system',
      'version',
      'commit_sha',
      'scale_set_id',
      'subsystem',
      'build_version',
      'build_commit_sha',
      'kind',
    ]);
    expect(ua).toMatch(
      /^\{"system":"scaleset","version":"[^"]+","commit_sha":"NA","scale_set_id":117,"subsystem":"listener",.*"kind":"scaleset"\}$/,
    );
    expect(ua).not.toContain(' ');
  });
});
