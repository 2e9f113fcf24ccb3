/**
 * A safe arithmetic evaluator (no `eval`): numbers, + - * / % ^, parentheses,
 * constants pi and e, and a few functions. Recursive descent, bounded input.
 */

const FUNCTIONS: Record<string, { arity: [number, number]; fn: (...args: number[]) => number }> = {
  sqrt: { arity: [1, 1], fn: Math.sqrt },
  cbrt: { arity: [1, 1], fn: Math.cbrt },
  abs: { arity: [1, 1], fn: Math.abs },
  round: { arity: [1, 2], fn: (x, digits = 0) => Math.round(x * 10 ** digits) / 10 ** digits },
  floor: { arity: [1, 1], fn: Math.floor },
  ceil: { arity: [1, 1], fn: Math.ceil },
  min: { arity: [1, 64], fn: Math.min },
  max: { arity: [1, 64], fn: Math.max },
  ln: { arity: [1, 1], fn: Math.log },
  log: { arity: [1, 2], fn: (x, base = 10) => Math.log(x) / Math.log(base) },
  exp: { arity: [1, 1], fn: Math.exp },
  sin: { arity: [1, 1], fn: Math.sin },
  cos: { arity: [1, 1], fn: Math.cos },
  tan: { arity: [1, 1], fn: Math.tan },
};
const CONSTANTS: Record<string, number> = { pi: Math.PI, e: Math.E, tau: 2 * Math.PI };

export const MAX_EXPRESSION_LENGTH = 1000;
const MAX_DEPTH = 64;

export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
}

type Token = { kind: 'num'; value: number; at: number } | { kind: 'id'; value: string; at: number } | { kind: 'op'; value: string; at: number };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const num = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(i));
    if (num) {
      tokens.push({ kind: 'num', value: Number(num[0]), at: i });
      i += num[0].length;
      continue;
    }
    const id = /^[A-Za-z_]\w*/.exec(text.slice(i));
    if (id) {
      tokens.push({ kind: 'id', value: id[0].toLowerCase(), at: i });
      i += id[0].length;
      continue;
    }
    if ('+-*/%^(),'.includes(c)) {
      tokens.push({ kind: 'op', value: c, at: i });
      i++;
      continue;
    }
    if (c === '×') tokens.push({ kind: 'op', value: '*', at: i });
    else if (c === '÷') tokens.push({ kind: 'op', value: '/', at: i });
    else throw new ExpressionError(`unexpected character "${c}" at position ${i + 1}`);
    i++;
  }
  return tokens;
}

/** Evaluates an arithmetic expression; throws ExpressionError saying what is wrong and where. */
export function evaluate(expression: string): number {
  if (expression.length > MAX_EXPRESSION_LENGTH) throw new ExpressionError(`expression longer than ${MAX_EXPRESSION_LENGTH} characters`);
  const tokens = tokenize(expression);
  if (tokens.length === 0) throw new ExpressionError('empty expression');
  let pos = 0;
  let depth = 0;
  const peek = (): Token | undefined => tokens[pos];
  const isOp = (value: string): boolean => {
    const t = peek();
    return t?.kind === 'op' && t.value === value;
  };
  const where = (): string => {
    const t = peek();
    return t ? `at position ${t.at + 1}` : 'at the end';
  };
  const expect = (value: string): void => {
    if (!isOp(value)) throw new ExpressionError(`expected "${value}" ${where()}`);
    pos++;
  };
  const nested = <T>(fn: () => T): T => {
    if (++depth > MAX_DEPTH) throw new ExpressionError(`expression nested deeper than ${MAX_DEPTH} levels`);
    try {
      return fn();
    } finally {
      depth--;
    }
  };

  const expr = (): number =>
    nested(() => {
      let left = term();
      while (isOp('+') || isOp('-')) {
        const op = (tokens[pos++] as Token).value;
        const right = term();
        left = op === '+' ? left + right : left - right;
      }
      return left;
    });
  const term = (): number => {
    let left = unary();
    while (isOp('*') || isOp('/') || isOp('%')) {
      const op = (tokens[pos++] as Token).value;
      const right = unary();
      if ((op === '/' || op === '%') && right === 0) throw new ExpressionError('division by zero');
      left = op === '*' ? left * right : op === '/' ? left / right : left % right;
    }
    return left;
  };
  const unary = (): number =>
    nested(() => {
      if (isOp('-')) {
        pos++;
        return -unary();
      }
      if (isOp('+')) {
        pos++;
        return unary();
      }
      return power();
    });
  const power = (): number => {
    const base = primary();
    if (!isOp('^')) return base;
    pos++;
    return base ** unary();
  };
  const primary = (): number => {
    const t = peek();
    if (!t) throw new ExpressionError('the expression ends too early');
    if (t.kind === 'num') {
      pos++;
      return t.value;
    }
    if (t.kind === 'op' && t.value === '(') {
      pos++;
      const value = expr();
      expect(')');
      return value;
    }
    if (t.kind === 'id') {
      pos++;
      if (isOp('(')) {
        const fn = Object.hasOwn(FUNCTIONS, t.value) ? FUNCTIONS[t.value] : undefined;
        if (!fn) throw new ExpressionError(`unknown function "${t.value}" (known: ${Object.keys(FUNCTIONS).join(', ')})`);
        pos++;
        const args: number[] = [];
        if (!isOp(')')) {
          args.push(expr());
          while (isOp(',')) {
            pos++;
            args.push(expr());
          }
        }
        expect(')');
        const [lo, hi] = fn.arity;
        if (args.length < lo || args.length > hi) throw new ExpressionError(`${t.value}() takes ${lo === hi ? lo : `${lo} to ${hi}`} argument${hi === 1 ? '' : 's'}, got ${args.length}`);
        return fn.fn(...args);
      }
      const constant = Object.hasOwn(CONSTANTS, t.value) ? CONSTANTS[t.value] : undefined;
      if (constant === undefined) throw new ExpressionError(`unknown name "${t.value}" (constants: ${Object.keys(CONSTANTS).join(', ')})`);
      return constant;
    }
    throw new ExpressionError(`unexpected "${t.value}" at position ${t.at + 1}`);
  };

  const value = expr();
  if (pos < tokens.length) throw new ExpressionError(`unexpected "${(tokens[pos] as Token).value}" at position ${(tokens[pos] as Token).at + 1}`);
  if (!Number.isFinite(value)) throw new ExpressionError(Number.isNaN(value) ? 'the result is not a number (e.g. sqrt of a negative)' : 'the result is infinite');
  return value;
}
