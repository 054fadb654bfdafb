import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const SCRIPT = 'fake-runner.sh';
const SOURCE_PATH = join('libs', 'testing', 'src', 'fake-runner', SCRIPT);

/** The fake runner shell script: where it is on disk and what it contains. */
export interface FakeRunnerScript {
  path: string;
  content: string;
}

/**
 * Locates `fake-runner.sh`: next to this module when run from source (or when the build copied
 * it there), else under `libs/testing/src/fake-runner/` of an enclosing directory or of the
 * working directory (compiled code under `dist/` does not carry the `.sh` file by itself).
 */
export function fakeRunnerScript(): FakeRunnerScript {
  const candidates = [join(__dirname, SCRIPT)];
  for (let dir = __dirname; dirname(dir) !== dir; dir = dirname(dir)) {
    candidates.push(join(dir, SOURCE_PATH));
  }
  candidates.push(join(process.cwd(), SOURCE_PATH));
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    throw new Error(`${SCRIPT} not found (looked in ${candidates.join(', ')})`);
  }
  return { path, content: readFileSync(path, 'utf8') };
}
