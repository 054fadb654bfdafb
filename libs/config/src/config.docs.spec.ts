import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_PATH_ENV, CONFIG_SOURCES } from './config.sources';

const REPO = join(__dirname, '..', '..', '..');

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// Environment names are declared once (config.sources.ts) and mirrored in the docs and
// .env.example (style.md 8); these tests keep the copies honest.
describe('documented environment variables', () => {
  const reference = readFileSync(join(REPO, 'docs', 'configuration.md'), 'utf8');
  const example = readFileSync(join(REPO, '.env.example'), 'utf8');

  it.each(CONFIG_SOURCES.map((s) => [s.env, s] as const))('%s is documented', (env, source) => {
    const row = new RegExp(`\\|\\s*\`${escape(source.path)}\`\\s*\\|\\s*\`${env}\`\\s*\\|`);
    expect(reference).toMatch(row);
    expect(example).toContain(`# ${env}=`);
    if (source.flag !== undefined) {
      expect(reference).toContain(`\`--${source.flag}\``);
    }
  });

  it('documents the config file variable', () => {
    expect(reference).toContain(CONFIG_PATH_ENV);
    expect(example).toContain(CONFIG_PATH_ENV);
  });
});
