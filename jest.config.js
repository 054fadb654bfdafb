// One jest project per test tier (style.md 21/25). `npm test` runs every tier
// through scripts/test.js, which first makes sure Redis and dockerd are reachable.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2023',
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

// Packages that ship only ES modules; jest's CommonJS runtime needs them transformed.
const esmOnly = [
  '@octokit',
  'universal-user-agent',
  'universal-github-app-jwt',
  'before-after-hook',
  'toad-cache',
  'fast-content-type-parse',
  'json-with-bigint',
  'content-type',
];

const common = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': swc },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper: {
    '^@app/([a-z]+)$': '<rootDir>/libs/$1/src',
    '^@apps/([a-z]+)$': '<rootDir>/apps/$1/src',
  },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/apps/**/*.spec.ts',
        '<rootDir>/libs/**/*.spec.ts',
        '<rootDir>/test/unit/**/*.spec.ts',
      ],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: [
        '<rootDir>/apps/**/*.int-spec.ts',
        '<rootDir>/libs/**/*.int-spec.ts',
        '<rootDir>/test/integration/**/*.int-spec.ts',
      ],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
    },
    {
      // The whole system as deployed (separate processes, real Redis and dockerd) under faults.
      ...common,
      displayName: 'system',
      testMatch: ['<rootDir>/test/system/**/*.system-spec.ts'],
    },
  ],
};
