import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Root of everything the system tier leaves behind for a human: figures and process logs. */
export const SYSTEM_TMP = join(tmpdir(), 'scaleset-system');

/** The figures of the last run, one entry per scenario (read by docs/reliability.md's author). */
export const FIGURES_FILE = join(SYSTEM_TMP, 'figures.json');

/** A figure: a number (seconds, counts, requests/s) or a short text. */
export type Figure = number | string | boolean | null;

/** Seconds between two epoch-ms times, rounded to 0.1 s. */
export function seconds(fromMs: number, toMs: number): number {
  return Math.round((toMs - fromMs) / 100) / 10;
}

/**
 * Prints a scenario's figures and merges them into {@link FIGURES_FILE} (scenarios run in
 * separate jest module registries, so the file, not memory, collects them).
 */
export function recordFigures(scenario: string, figures: Record<string, Figure>): void {
  const entry = { ...figures, recordedAt: new Date().toISOString() };
  console.log(`[system] ${scenario}: ${JSON.stringify(figures)}`);
  mkdirSync(SYSTEM_TMP, { recursive: true });
  let all: Record<string, unknown> = {};
  if (existsSync(FIGURES_FILE)) {
    try {
      all = JSON.parse(readFileSync(FIGURES_FILE, 'utf8')) as Record<string, unknown>;
    } catch {
      all = {};
    }
  }
  all[scenario] = entry;
  writeFileSync(FIGURES_FILE, `${JSON.stringify(all, null, 2)}\n`);
}
