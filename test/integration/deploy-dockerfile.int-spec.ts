import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// A static check of the Dockerfile and .dockerignore (no image registry is reachable here, so
// the image itself is built only by hand; docs/operations.md says how). The parser below
// understands the instructions this Dockerfile uses: line continuations, comments, ARG,
// FROM ... AS, and the exec (JSON) form of ENTRYPOINT and CMD.

const ROOT = join(__dirname, '..', '..');

interface Instruction {
  readonly op: string;
  readonly args: string;
}

interface Stage {
  readonly from: string;
  readonly name?: string;
  readonly instructions: Instruction[];
}

function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = op.toUpperCase();
    const current = stages.at(-1);
    if (upper === 'FROM') {
      const [from = '', as, name] = rest.split(/\s+/);
      stages.push({
        from,
        ...(as?.toUpperCase() === 'AS' && name !== undefined && { name }),
        instructions: [],
      });
    } else if (current === undefined) {
      if (upper === 'ARG') {
        const [key = '', value = ''] = rest.split('=');
        args.set(key, value);
      }
    } else {
      current.instructions.push({ op: upper, args: rest });
    }
  }
  return { args, stages };
}

function resolveFrom(from: string, args: Map<string, string>): string {
  return from.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (_m, a?: string, b?: string) => args.get(a ?? b ?? '') ?? '',
  );
}

/** True when a .dockerignore pattern list excludes `path` (the subset of syntax used here). */
function ignored(patterns: readonly string[], path: string): boolean {
  let result = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const re = new RegExp(
      `^${pattern
        .split('/')
        .map((seg) =>
          seg === '**'
            ? '.*'
            : seg
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?')}(?:/.*)?$`,
    );
    if (re.test(path)) {
      result = !negate;
    }
  }
  return result;
}

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const { args, stages } = parseDockerfile(dockerfile);
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const build = stages[0];
  const final = stages.at(-1);
  const ops = (stage: Stage | undefined, op: string): string[] =>
    (stage?.instructions ?? []).filter((i) => i.op === op).map((i) => i.args);

  it('is multi-stage on node:24-bookworm-slim by default, overridable with NODE_IMAGE', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(args.get('NODE_IMAGE')).toBe('node:24-bookworm-slim');
    for (const stage of stages) {
      expect(resolveFrom(stage.from, args)).toBe('node:24-bookworm-slim');
    }
    expect(build?.name).toBe('build');
    expect(final?.name).toBeUndefined();
  });

  it('builds with dev dependencies, stamps SCALESET_VERSION, then keeps production ones only', () => {
    const runs = ops(build, 'RUN').join('\n');
    expect(runs).toMatch(/npm ci --ignore-scripts/);
    expect(ops(build, 'ARG')).toContain('SCALESET_VERSION=dev');
    expect(runs).toMatch(/SCALESET_VERSION="\$\{SCALESET_VERSION\}" npm run build/);
    expect(runs).toMatch(/npm prune --omit=dev/);
    // The build script still stamps the version through scripts/build-info.mts.
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts['build']).toContain('scripts/build-info.mts');
    // The final stage installs nothing: it copies the pruned node_modules and dist.
    expect(ops(final, 'RUN').join('\n')).not.toMatch(/npm (ci|install)/);
    const copies = ops(final, 'COPY');
    expect(copies.every((c) => c.startsWith('--from=build '))).toBe(true);
    for (const path of ['/app/node_modules', '/app/dist', '/app/bin', '/app/package.json']) {
      expect(copies.some((c) => c.includes(` ${path} `))).toBe(true);
    }
  });

  it('runs as the numeric non-root user 10001 with the scaleset entrypoint', () => {
    const users = ops(final, 'USER');
    expect(users.at(-1)).toBe('10001:10001');
    expect(ops(final, 'ENTRYPOINT')).toEqual(['["node", "/app/bin/scaleset.js"]']);
    expect(ops(final, 'CMD')).toEqual(['["run"]']);
    expect(ops(final, 'ENV').join(' ')).toContain('NODE_ENV=production');
    // No image-wide HEALTHCHECK: the worker role serves no health endpoint (see the Dockerfile).
    expect(ops(final, 'HEALTHCHECK')).toEqual([]);
  });

  it('copies only named sources, never the whole context or a secret', () => {
    const contextCopies = stages
      .flatMap((s) => s.instructions)
      .filter((i) => (i.op === 'COPY' || i.op === 'ADD') && !i.args.startsWith('--from='));
    expect(contextCopies.length).toBeGreaterThan(0);
    for (const copy of contextCopies) {
      expect(copy.op).toBe('COPY');
      const sources = copy.args
        .split(/\s+/)
        .filter((a) => !a.startsWith('--'))
        .slice(0, -1);
      for (const source of sources) {
        expect([source, source === '.' || source === './' || source.includes('*')]).toEqual([
          source,
          false,
        ]);
        expect([source, /(^|\/)(\.env|config\.yaml|.*\.pem|\.git)$/.test(source)]).toEqual([
          source,
          false,
        ]);
        expect([source, existsSync(join(ROOT, source))]).toEqual([source, true]);
        // A source the build needs must not be excluded from the context.
        expect([source, ignored(patterns, source)]).toEqual([source, false]);
      }
    }
  });

  it('.dockerignore keeps node_modules, .git, local config and secrets out of the context', () => {
    for (const path of [
      'node_modules',
      'libs/x/node_modules/y',
      '.git',
      '.git/config',
      'config.yaml',
      '.env',
      '.env.production',
      'dist',
      'github-app.pem',
      'test/integration/deploy-kubernetes.int-spec.ts',
    ]) {
      expect([path, ignored(patterns, path)]).toEqual([path, true]);
    }
    for (const path of [
      'package.json',
      'package-lock.json',
      'apps/cli/src/main.ts',
      'bin/scaleset.js',
    ]) {
      expect([path, ignored(patterns, path)]).toEqual([path, false]);
    }
  });
});
