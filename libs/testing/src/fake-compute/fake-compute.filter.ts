import { invalidField } from './fake-compute.errors';

/**
 * The `filter` query parameter of Compute `list` and `aggregatedList` calls.
 *
 * Supported, as documented for the Compute API:
 * - comparisons `field = value`, `field != value`, `field > value` (and `<`, `>=`, `<=`),
 *   `field : value` (has; `field:*` tests presence), with or without spaces around the operator;
 * - values bare or quoted with `"` or `'`;
 * - nested fields (`labels.owner`, `scheduling.provisioningModel`); array fields match when any
 *   element matches;
 * - terms joined by `AND`, `OR` or plain whitespace (AND), grouped with parentheses, where `AND`
 *   binds tighter than `OR`;
 * - the older regular-expression form `field eq 'regex'` / `field ne 'regex'` (full match).
 */
export type FilterPredicate = (resource: Record<string, unknown>) => boolean;

type Op = '=' | '!=' | ':' | '>' | '<' | '>=' | '<=' | 'eq' | 'ne';

type Token =
  | { kind: 'lparen' }
  | { kind: 'rparen' }
  | { kind: 'and' }
  | { kind: 'or' }
  | { kind: 'op'; op: Op }
  | { kind: 'word'; text: string; quoted: boolean };

class FilterSyntaxError extends Error {}

const OP_CHARS = /^(!=|>=|<=|=|:|>|<)/;

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < filter.length) {
    const ch = filter.charAt(i);
    if (/\s/.test(ch)) {
      i += 1;
      continue;
    }
    if (ch === '(' || ch === ')') {
      tokens.push({ kind: ch === '(' ? 'lparen' : 'rparen' });
      i += 1;
      continue;
    }
    const op = OP_CHARS.exec(filter.slice(i));
    if (op) {
      tokens.push({ kind: 'op', op: op[1] as Op });
      i += op[1]?.length ?? 1;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const end = filter.indexOf(ch, i + 1);
      if (end < 0) {
        throw new FilterSyntaxError('unterminated quote');
      }
      tokens.push({ kind: 'word', text: filter.slice(i + 1, end), quoted: true });
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < filter.length && !/[\s()"'!=:<>]/.test(filter.charAt(j))) {
      j += 1;
    }
    const text = filter.slice(i, j);
    if (text === 'AND') {
      tokens.push({ kind: 'and' });
    } else if (text === 'OR') {
      tokens.push({ kind: 'or' });
    } else if (text === 'eq' || text === 'ne') {
      tokens.push({ kind: 'op', op: text });
    } else {
      tokens.push({ kind: 'word', text, quoted: false });
    }
    i = j;
  }
  return tokens;
}

/** Values a field holds, flattened: scalars as strings, arrays element by element. */
function fieldValues(resource: Record<string, unknown>, path: string): string[] | undefined {
  let current: unknown = resource;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[part];
  }
  if (current === undefined || current === null) {
    return undefined;
  }
  const list: unknown[] = Array.isArray(current) ? current : [current];
  return list.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
}

function compare(actual: string, op: '>' | '<' | '>=' | '<=', expected: string): boolean {
  const a = Number(actual);
  const b = Number(expected);
  const numeric = actual !== '' && expected !== '' && !Number.isNaN(a) && !Number.isNaN(b);
  const order = numeric ? Math.sign(a - b) : actual < expected ? -1 : actual > expected ? 1 : 0;
  switch (op) {
    case '>':
      return order > 0;
    case '<':
      return order < 0;
    case '>=':
      return order >= 0;
    case '<=':
      return order <= 0;
  }
}

function comparison(field: string, op: Op, value: string): FilterPredicate {
  let regex: RegExp | undefined;
  if (op === 'eq' || op === 'ne') {
    try {
      regex = new RegExp(`^(?:${value})$`);
    } catch {
      throw new FilterSyntaxError(`bad regular expression ${value}`);
    }
  }
  return (resource) => {
    const values = fieldValues(resource, field);
    switch (op) {
      case '=':
        return values?.some((v) => v === value) ?? false;
      case '!=':
        return !(values?.some((v) => v === value) ?? false);
      case ':':
        return value === '*' ? values !== undefined : (values?.some((v) => v === value) ?? false);
      case 'eq':
        return values?.some((v) => regex?.test(v) === true) ?? false;
      case 'ne':
        return !(values?.some((v) => regex?.test(v) === true) ?? false);
      case '>':
      case '<':
      case '>=':
      case '<=':
        return values?.some((v) => compare(v, op, value)) ?? false;
    }
  };
}

class Parser {
  private pos = 0;

  constructor(private readonly tokens: Token[]) {}

  parse(): FilterPredicate {
    const predicate = this.orExpr();
    if (this.pos < this.tokens.length) {
      throw new FilterSyntaxError('unexpected token');
    }
    return predicate;
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  private orExpr(): FilterPredicate {
    const terms = [this.andExpr()];
    while (this.peek()?.kind === 'or') {
      this.pos += 1;
      terms.push(this.andExpr());
    }
    return terms.length === 1 && terms[0] ? terms[0] : (r) => terms.some((t) => t(r));
  }

  private andExpr(): FilterPredicate {
    const terms = [this.term()];
    for (;;) {
      const next = this.peek();
      if (next?.kind === 'and') {
        this.pos += 1;
        terms.push(this.term());
      } else if (next?.kind === 'word' || next?.kind === 'lparen') {
        terms.push(this.term());
      } else {
        break;
      }
    }
    return terms.length === 1 && terms[0] ? terms[0] : (r) => terms.every((t) => t(r));
  }

  private term(): FilterPredicate {
    const token = this.peek();
    if (token?.kind === 'lparen') {
      this.pos += 1;
      const inner = this.orExpr();
      if (this.peek()?.kind !== 'rparen') {
        throw new FilterSyntaxError('missing )');
      }
      this.pos += 1;
      return inner;
    }
    const field = this.tokens[this.pos];
    const op = this.tokens[this.pos + 1];
    const value = this.tokens[this.pos + 2];
    if (field?.kind !== 'word' || field.quoted || op?.kind !== 'op' || value?.kind !== 'word') {
      throw new FilterSyntaxError('expected <field> <operator> <value>');
    }
    this.pos += 3;
    return comparison(field.text, op.op, value.text);
  }
}

/** Parses a list filter; an empty or missing filter matches everything. Throws 400 invalid. */
export function parseListFilter(filter: string | undefined): FilterPredicate {
  if (filter === undefined || filter.trim() === '') {
    return () => true;
  }
  try {
    return new Parser(tokenize(filter)).parse();
  } catch (error) {
    if (error instanceof FilterSyntaxError) {
      throw invalidField('filter', filter, 'Invalid list filter expression.');
    }
    throw error;
  }
}
