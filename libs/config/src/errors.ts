/** One problem found in the configuration: the field's path and what is wrong with it. */
export interface ConfigIssue {
  /** Dotted path of the field, e.g. `scaleset.max_runners` or `scalesets[1].name`. */
  readonly path: string;
  /** What is wrong and what is allowed. Never contains the field's value. */
  readonly message: string;
}

/**
 * The configuration is invalid. The message has one `path: problem` line per issue
 * and never contains a configured value, so it is safe to print.
 */
export class ConfigValidationError extends Error {
  override readonly name = 'ConfigValidationError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(
      `invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  ${i.path}: ${i.message}`).join('\n'),
    );
    this.issues = issues;
  }
}
