// What a scenario reports, and how the report is printed and saved.

/** Progress on stderr (stdout carries the table). */
export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** One figure of a scenario. */
export interface Figure {
  readonly name: string;
  readonly value: number | string | null;
  readonly unit?: string;
  /** The target, in words (e.g. `≤ 1.1`). */
  readonly target?: string;
  /** Whether the target is met; absent when the figure has no target. */
  readonly met?: boolean;
}

/** What one scenario produced. */
export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly figures: Figure[];
  /** How the figures were measured and derived, in words (printed under the table). */
  readonly method: string[];
  /** Everything else worth keeping (series, per-process values); goes to the JSON only. */
  readonly details: Record<string, unknown>;
  wallS?: number;
  error?: string;
}

/** A figure with a target that is an upper bound. */
export function atMost(name: string, value: number, bound: number, unit?: string): Figure {
  return {
    name,
    value,
    ...(unit === undefined ? {} : { unit }),
    target: `≤ ${bound}`,
    met: Number.isFinite(value) && value <= bound,
  };
}

/** A figure with a target that is a lower bound. */
export function atLeast(name: string, value: number, bound: number, unit?: string): Figure {
  return {
    name,
    value,
    ...(unit === undefined ? {} : { unit }),
    target: `≥ ${bound}`,
    met: Number.isFinite(value) && value >= bound,
  };
}

/** A figure without a target. */
export function info(name: string, value: number | string | null, unit?: string): Figure {
  return { name, value, ...(unit === undefined ? {} : { unit }) };
}

function cell(value: number | string | null | undefined): string {
  if (value === null || value === undefined) {
    return '—';
  }
  if (typeof value === 'number') {
    return Number.isFinite(value) ? String(value) : 'n/a';
  }
  return value;
}

/** The results as a plain-text table (one row per figure) plus the method notes. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const rows: string[][] = [['scenario', 'figure', 'value', 'target', 'ok']];
  for (const r of results) {
    if (r.error !== undefined) {
      rows.push([r.id, 'FAILED', r.error.slice(0, 80), '', '✗']);
    }
    for (const f of r.figures) {
      rows.push([
        r.id,
        f.name,
        `${cell(f.value)}${f.unit === undefined ? '' : ` ${f.unit}`}`,
        f.target ?? '',
        f.met === undefined ? '' : f.met ? '✓' : '✗',
      ]);
    }
  }
  const widths =
    rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  const line = (row: string[]): string =>
    row
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const out = [line(rows[0] ?? []), widths.map((w) => '-'.repeat(w)).join('  ')];
  let previous = '';
  for (const row of rows.slice(1)) {
    const scenario = row[0] ?? '';
    out.push(line([scenario === previous ? '' : scenario, ...row.slice(1)]));
    previous = scenario;
  }
  out.push('');
  for (const r of results) {
    if (r.method.length > 0) {
      out.push(`${r.id} (${r.title}, ${cell(r.wallS)} s):`);
      for (const m of r.method) {
        out.push(`  - ${m}`);
      }
    }
  }
  return out.join('\n');
}
