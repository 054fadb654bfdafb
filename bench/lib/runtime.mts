// The compiled libraries the benchmark drives in its own process (the fake GitHub service, the
// scale set client, the simulated engine). The bench runs with Node's type stripping, so it
// loads the build (`npm run build`, run by `npm ci`) instead of the TypeScript sources; the
// types come from the sources, so the typecheck covers every call.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

/** The repository root. */
export const ROOT = join(import.meta.dirname, '..', '..');

/** The built `scaleset` binary, run as deployed. */
export const SCALESET_BIN = join(ROOT, 'bin', 'scaleset.js');

function dist(lib: string): string {
  const file = join(ROOT, 'dist', 'libs', lib, 'src', 'index.js');
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: run \`npm run build\` (npm ci runs it) first`);
  }
  return file;
}

/** `@app/testing` from dist: FakeGitHub, startRedisServer. */
export function loadTesting(): typeof import('@app/testing') {
  return require(dist('testing')) as typeof import('@app/testing');
}

/** `@app/scaleset` from dist: the scale set client the baseline scaler uses. */
export function loadScaleset(): typeof import('@app/scaleset') {
  return require(dist('scaleset')) as typeof import('@app/scaleset');
}

/** `@app/compute` from dist: the simulated engine the baseline scaler uses. */
export function loadCompute(): typeof import('@app/compute') {
  return require(dist('compute')) as typeof import('@app/compute');
}

/** ioredis, for INFO and registry counts. */
export function loadIoredis(): typeof import('ioredis') {
  return require('ioredis') as typeof import('ioredis');
}

/** BullMQ, to read the timestamps of finished start jobs. */
export function loadBullmq(): typeof import('bullmq') {
  return require('bullmq') as typeof import('bullmq');
}

/** prettier, to write the JSON report in the repository's format. */
export function loadPrettier(): typeof import('prettier') {
  return require('prettier') as typeof import('prettier');
}
