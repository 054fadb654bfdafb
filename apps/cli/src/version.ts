import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The version this binary was built with: `dist/build-info.json`, written by
 * `npm run build` when `SCALESET_VERSION` is set (the Docker image sets it); `dev` otherwise.
 */
export function buildVersion(): string {
  try {
    const info = JSON.parse(
      readFileSync(join(__dirname, '..', '..', '..', 'build-info.json'), 'utf8'),
    ) as { version?: unknown };
    return typeof info.version === 'string' && info.version !== '' ? info.version : 'dev';
  } catch {
    return 'dev';
  }
}
