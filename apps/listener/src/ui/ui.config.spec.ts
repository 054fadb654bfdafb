import {
  ConfigValidationError,
  loadConfig,
  redactedConfig,
  type ScalesetConfig,
} from '@app/config';

const BASE = [
  'github:\n  url: https://github.com/org\n  token: ghp_x',
  'scaleset:\n  name: ui-test',
  'engine:\n  docker:\n    enable: true',
].join('\n');

function load(yaml: string, env: Record<string, string> = {}): ScalesetConfig {
  return loadConfig({ env, configPath: 'c.yaml', readFile: () => `${BASE}\n${yaml}` });
}

function issuesOf(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    load(yaml, env);
  } catch (err) {
    if (err instanceof ConfigValidationError) {
      return err.issues.map((i) => `${i.path}: ${i.message}`);
    }
    throw err;
  }
  return [];
}

describe('ui configuration', () => {
  it('is off by default, under /ui, on 0.0.0.0', () => {
    const config = load('');
    expect(config.ui).toEqual({ enable: false, path: '/ui' });
    expect(config.listener.healthHost).toBe('0.0.0.0');
  });

  it('refuses ui.enable without credentials on a non-loopback host, naming ui.password', () => {
    const issues = issuesOf('ui:\n  enable: true');
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^ui\.password: is required when ui\.enable is true/);
  });

  it.each(['127.0.0.1', '::1', 'localhost'])('allows no credentials when bound to %s', (host) => {
    const config = load(`ui:\n  enable: true\nlistener:\n  health_host: "${host}"`);
    expect(config.ui.enable).toBe(true);
    expect(config.ui.basic).toBeUndefined();
  });

  it('takes credentials from the environment and redacts them', () => {
    const config = load('ui:\n  enable: true', {
      SCALESET_UI_USERNAME: 'ops',
      SCALESET_UI_PASSWORD: 'pw-secret-1',
      SCALESET_UI_TOKEN: 'tok-secret-2',
    });
    expect(config.ui).toEqual({
      enable: true,
      path: '/ui',
      basic: { username: 'ops', password: 'pw-secret-1' },
      token: 'tok-secret-2',
    });
    const printed = JSON.stringify(redactedConfig(config));
    expect(printed).not.toContain('pw-secret-1');
    expect(printed).not.toContain('tok-secret-2');
    expect(printed).toContain('"username":"ops"');
  });

  it('accepts a token alone', () => {
    expect(load('ui:\n  enable: true\n  token: t0k').ui.token).toBe('t0k');
  });

  it('wants user name and password together, never echoing them', () => {
    expect(issuesOf('ui:\n  password: hunter2-secret')).toEqual([
      'ui.username: is required when ui.password is set',
    ]);
    expect(issuesOf('ui:\n  username: ops')).toEqual([
      'ui.password: is required when ui.username is set',
    ]);
  });

  it.each(['ui', '/', '/healthz', '/readyz/x', '/a b', '/ui/'])('rejects ui.path %s', (path) => {
    const issues = issuesOf(`ui:\n  path: "${path}"`);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^ui\.path: /);
  });

  it('needs the HTTP server', () => {
    expect(issuesOf('ui:\n  enable: true\n  token: t\nlistener:\n  health_port: 0')).toEqual([
      'ui.enable: needs the listener HTTP server: set listener.health_port to a port (not 0)',
    ]);
  });
});
