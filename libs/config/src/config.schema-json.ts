import { z } from 'zod';
import { configFileSchema } from './file.schema';

/**
 * JSON Schema (draft 2020-12) of the configuration file, generated from the same zod
 * schema that validates it; `docs/config.schema.json` is this, kept in sync by a test.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configFileSchema, { io: 'input', unrepresentable: 'any' });
  return {
    ...schema,
    $id: 'https://github.com/scaleset/scaleset/docs/config.schema.json',
    title: 'scaleset configuration',
    description:
      'Configuration file of scaleset (config.yaml). Compatible with the original Go tool. Secrets may instead come from SCALESET_* environment variables or files.',
  };
}
