// Typed lint, zero warnings (style.md 27). Boundaries between libs (style.md 1-2)
// are expressed as no-restricted-imports rules that name the real constraint.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const TEST_FILES = ['**/*.spec.ts', '**/*.int-spec.ts', '**/test/**/*.ts'];

const LIBS = ['config', 'scaleset', 'registry', 'queue', 'compute', 'telemetry', 'testing'];

/** Imports every file must respect: one public entry per lib, no relative hop into another lib or app. */
const commonPatterns = [
  { group: ['@app/*/*'], message: 'Import a lib only through its public entry: @app/<lib>.' },
  {
    group: ['**/libs/*', '**/libs/**', '**/apps/*', '**/apps/**'],
    message: 'Do not reach into another lib or app with a relative path; use @app/<lib>.',
  },
];

/** Which libs each lib may not import (apps -> feature libs -> config/telemetry). */
const forbidden = {
  config: LIBS.filter((l) => l !== 'config'),
  telemetry: LIBS.filter((l) => l !== 'telemetry' && l !== 'config'),
  scaleset: ['registry', 'queue', 'compute', 'testing'],
  registry: ['scaleset', 'queue', 'compute', 'testing'],
  queue: ['scaleset', 'compute', 'registry', 'testing'],
  compute: ['scaleset', 'queue', 'registry', 'testing'],
  // The fake runner and its JIT config codec live in compute (the simulated engine runs them).
  testing: ['registry', 'queue'],
};

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      '.ci/tmp/**',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      eqeqeq: ['error', 'always'],
      curly: ['error', 'all'],
      'no-console': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-extraneous-class': ['error', { allowWithDecorator: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': ['error', { patterns: commonPatterns }],
      // Nest and other libraries type their options as classes but document object
      // literals; this rule would reject the documented usage everywhere.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
    },
  },
  ...Object.entries(forbidden).flatMap(([lib, banned]) =>
    [
      { tests: false, banned },
      // Tests of a lib may use the shared test harnesses (fake GitHub, Redis, images).
      { tests: true, banned: banned.filter((b) => b !== 'testing') },
    ].map(({ tests, banned }) => ({
      files: tests ? TEST_FILES.map((f) => `libs/${lib}/${f}`) : [`libs/${lib}/**/*.ts`],
      ...(tests ? {} : { ignores: TEST_FILES.map((f) => `libs/${lib}/${f}`) }),
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              ...commonPatterns,
              { group: ['@apps/*'], message: 'Libs must not import apps.' },
              ...(banned.length > 0
                ? [
                    {
                      group: banned.map((b) => `@app/${b}`),
                      message: `libs/${lib} must not depend on these libs (docs/architecture.md).`,
                    },
                  ]
                : []),
            ],
          },
        ],
      },
    })),
  ),
  // The listener and the worker never import each other; only the CLI composes both.
  {
    files: ['apps/listener/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...commonPatterns,
            { group: ['@apps/*'], message: 'The listener must not import another app.' },
          ],
        },
      ],
    },
  },
  {
    files: ['apps/worker/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...commonPatterns,
            { group: ['@apps/*'], message: 'The worker must not import another app.' },
          ],
        },
      ],
    },
  },
  {
    // The CLI, tests and scripts write to the terminal on purpose.
    files: [
      'apps/cli/**/*.ts',
      'scripts/**/*.ts',
      'test/**/*.ts',
      '**/*.spec.ts',
      '**/*.int-spec.ts',
      '**/*.e2e-spec.ts',
    ],
    rules: { 'no-console': 'off' },
  },
);
