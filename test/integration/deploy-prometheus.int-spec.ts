import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { METRICS, prometheusName } from '@app/telemetry';

// deploy/prometheus/prometheus.yml (the compose file's Prometheus) and its alert rules, checked
// by Prometheus' own `promtool check config`, which also loads and checks the rule files.
// Skipped only when promtool is missing (Debian package `prometheus`).

const DIR = join(__dirname, '..', '..', 'deploy', 'prometheus');

/** Series the alerts use before scaleset exports them (each one named in alerts.yml). */
const NOT_EXPORTED_YET = ['scaleset_listener_last_poll_timestamp_seconds'];

describe('deploy/prometheus/alerts.yml', () => {
  it('uses only metrics scaleset exports (libs/telemetry METRICS)', () => {
    const rules = readFileSync(join(DIR, 'alerts.yml'), 'utf8');
    const exprs = [...rules.matchAll(/^\s+expr: (\|\n(?:\s{10,}.*\n)+|.*)$/gm)].map(
      (m) => m[1] ?? '',
    );
    const used = new Set(
      exprs.flatMap((e) => [...e.matchAll(/\bscaleset_[a-z_]+/g)].map((m) => m[0])),
    );
    const exported = new Set(
      Object.values(METRICS).flatMap((d) => {
        const name = prometheusName(d);
        return d.kind === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
      }),
    );
    expect(used.size).toBeGreaterThan(3);
    const unknown = [...used].filter((n) => !exported.has(n) && !NOT_EXPORTED_YET.includes(n));
    expect(unknown).toEqual([]);
    // Once a missing series is exported, take it off the list (and out of the comments).
    expect(NOT_EXPORTED_YET.filter((n) => exported.has(n))).toEqual([]);
  });
});

function promtool(args: string[]): { status: number | null; output: string } {
  const out = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  return { status: out.status, output: `${out.stdout}${out.stderr}` };
}

const available = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
if (!available) {
  process.stderr.write(
    'deploy-prometheus: promtool is not installed (apt-get install prometheus); skipping\n',
  );
}
const describeIf = available ? describe : describe.skip;

describeIf('deploy/prometheus through promtool', () => {
  let tmp: string;

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'deploy-prometheus-'));
  });

  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('prometheus.yml and its rule files pass `promtool check config`', () => {
    const out = promtool(['check', 'config', join(DIR, 'prometheus.yml')]);
    expect(out.output).toMatch(/SUCCESS: .*prometheus\.yml is valid/);
    expect(out.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(out.status).toBe(0);
  });

  it('ships the alerts docs/operations.md describes', () => {
    const rules = readFileSync(join(DIR, 'alerts.yml'), 'utf8');
    const docs = readFileSync(join(__dirname, '..', '..', 'docs', 'operations.md'), 'utf8');
    const alerts = [...rules.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1] ?? '');
    expect(alerts).toEqual(
      expect.arrayContaining([
        'ScalesetNoLeader',
        'ScalesetPollLoopStale',
        'ScalesetJobsWaitingForRunners',
        'ScalesetStartJobsFailing',
        'ScalesetReconcileActionsSpiking',
        'ScalesetGitHubRateLimitLow',
      ]),
    );
    for (const alert of alerts) {
      expect([alert, docs.includes(alert)]).toEqual([alert, true]);
    }
  });

  it('fails a broken rule (the check can fail)', () => {
    copyFileSync(join(DIR, 'prometheus.yml'), join(tmp, 'prometheus.yml'));
    writeFileSync(
      join(tmp, 'alerts.yml'),
      readFileSync(join(DIR, 'alerts.yml'), 'utf8').replace(
        'up{job=~"scaleset-.*"} == 0',
        'up{job=~"scaleset-.*" == 0',
      ),
    );
    const out = promtool(['check', 'config', join(tmp, 'prometheus.yml')]);
    expect(out.status).not.toBe(0);
    expect(out.output).toMatch(/FAILED/);
  });
});
