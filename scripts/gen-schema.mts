// Regenerates docs/config.schema.json from the configuration schema (npm run gen:schema).
// The build must be current: it reads the compiled config lib from dist/.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const root = join(import.meta.dirname, '..');
const lib = require(join(root, 'dist', 'libs', 'config', 'src', 'config.schema-json.js')) as {
  configJsonSchema: () => unknown;
};
writeFileSync(
  join(root, 'docs', 'config.schema.json'),
  `${JSON.stringify(lib.configJsonSchema(), null, 2)}\n`,
);
process.stdout.write('wrote docs/config.schema.json\n');
