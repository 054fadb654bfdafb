// Writes dist/build-info.json with the version the binary reports (`scaleset --version`):
// SCALESET_VERSION when set (release builds, the Docker image), otherwise `dev`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const dist = join(import.meta.dirname, '..', 'dist');
mkdirSync(dist, { recursive: true });
const version = process.env['SCALESET_VERSION'] ?? 'dev';
writeFileSync(join(dist, 'build-info.json'), `${JSON.stringify({ version, commit: commit() })}\n`);
