import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

/** Outcome of a child Node process. */
export interface ChildResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

// Registers an on-the-fly TypeScript transform (the same swc options as jest.config.js) and
// the `@app/<lib>` path alias (libs/<lib>/src/index.ts), and runs the entry file given as
// argv[1].
const BOOTSTRAP = `
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const swc = require('@swc/core');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const lib = /^@app\\/([a-z-]+)$/.exec(request);
  if (lib) {
    request = path.resolve('libs', lib[1], 'src', 'index.ts');
  }
  return resolveFilename.call(this, request, ...rest);
};
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2023',
    },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
require(process.argv[1]);
`;

/**
 * Runs a TypeScript entry file in a plain Node process (outside jest's module sandbox),
 * for code paths that load ES-only packages through Node's own loader.
 */
export function runInRealNode(
  entry: string,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<ChildResult> {
  const repoRoot = resolve(__dirname, '../../../..');
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['-e', BOOTSTRAP, resolve(entry)], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', fail);
    child.on('close', (code) => {
      done({ code, stdout, stderr });
    });
  });
}
