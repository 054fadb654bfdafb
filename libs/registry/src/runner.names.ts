import { randomInt } from 'node:crypto';

/**
 * Longest runner name we generate. 63 is the tightest limit among the places a runner name
 * becomes a resource name: RFC 1035 labels (GCP instance names, Kubernetes labels); Docker,
 * AWS tags and Azure Linux VM names (64) allow at least as much.
 */
export const MAX_RUNNER_NAME_LENGTH = 63;

/** Length of the random part of a runner name: 36^10 ≈ 2^51 names per scale set. */
export const RUNNER_NAME_SUFFIX_LENGTH = 10;

/** What a runner name looks like: lower-case letters, digits and hyphens, starting with a letter. */
export const RUNNER_NAME_PATTERN = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const PREFIX_MAX = MAX_RUNNER_NAME_LENGTH - 1 - RUNNER_NAME_SUFFIX_LENGTH;
const FALLBACK_PREFIX = 'runner';

/** Random lower-case letters and digits from the CSPRNG (`crypto.randomInt`, no modulo bias). */
export function randomRunnerSuffix(length: number = RUNNER_NAME_SUFFIX_LENGTH): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out += ALPHABET.charAt(randomInt(ALPHABET.length));
  }
  return out;
}

/**
 * The scale set part of runner names: the scale set name lower-cased, every run of other
 * characters replaced by one hyphen, prefixed with `r` when it does not start with a letter,
 * and truncated so that `<prefix>-<suffix>` fits in {@link MAX_RUNNER_NAME_LENGTH}.
 */
export function runnerNamePrefix(scaleSetName: string): string {
  let prefix = scaleSetName
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (prefix === '') {
    return FALLBACK_PREFIX;
  }
  if (!/^[a-z]/.test(prefix)) {
    prefix = `r${prefix}`;
  }
  return prefix.slice(0, PREFIX_MAX).replace(/-+$/, '');
}

/** A new runner name `<scale set name>-<random>`; pass `suffix` only in tests. */
export function runnerName(scaleSetName: string, suffix: string = randomRunnerSuffix()): string {
  return `${runnerNamePrefix(scaleSetName)}-${suffix}`;
}

/** Whether `name` is a name this lib could have generated (and is safe inside a Redis key). */
export function isValidRunnerName(name: string): boolean {
  return name.length <= MAX_RUNNER_NAME_LENGTH && RUNNER_NAME_PATTERN.test(name);
}
