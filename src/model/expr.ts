/** A handle to an event, as `addEvent` returns it; `owner` tells which flow made it. */
export interface EventRef {
  readonly kind: 'event';
  readonly name: string;
  readonly owner: object;
}

/** A handle to a step, as `addStep` returns it. */
export interface StepRef {
  readonly kind: 'step';
  readonly name: string;
  readonly owner: object;
}

/** An `and` or `or` of expressions, as `and()` and `or()` build it. */
export interface ExprNode<Atom = EventRef | string> {
  readonly op: 'and' | 'or';
  readonly items: readonly ExprInput<Atom>[];
}

/** What users write as an expression: an event, `and(...)`, `or(...)`, or an array meaning `and`. */
export type ExprInput<Atom = EventRef | string> = Atom | ExprNode<Atom> | readonly ExprInput<Atom>[];

/** An expression over event names, as a FlowSpec stores it: plain data. */
export type Expr = string | { op: 'and' | 'or'; items: Expr[] };

/** An expression that holds when any of its parts holds. */
export function or<Atom = EventRef | string>(...items: ExprInput<Atom>[]): ExprNode<Atom> {
  return { op: 'or', items };
}

/** An expression that holds when all of its parts hold (an array means the same). */
export function and<Atom = EventRef | string>(...items: ExprInput<Atom>[]): ExprNode<Atom> {
  return { op: 'and', items };
}

function isNode(input: unknown): input is ExprNode<unknown> {
  return typeof input === 'object' && input !== null && 'op' in input && 'items' in input;
}

/** Turns a user's expression into plain data, naming each atom through `nameOf`. */
export function normalizeExpr<Atom>(input: ExprInput<Atom>, nameOf: (atom: Atom) => string): Expr {
  if (Array.isArray(input)) return { op: 'and', items: input.map((item) => normalizeExpr(item, nameOf)) };
  if (isNode(input)) return { op: input.op, items: input.items.map((item) => normalizeExpr(item as ExprInput<Atom>, nameOf)) };
  return nameOf(input as Atom);
}

/** The event names an expression mentions, each once. */
export function exprEvents(expr: Expr, into: Set<string> = new Set()): Set<string> {
  if (typeof expr === 'string') into.add(expr);
  else for (const item of expr.items) exprEvents(item, into);
  return into;
}

/** True when an expression, or any part of it, has no items. */
export function hasEmptyPart(expr: Expr): boolean {
  if (typeof expr === 'string') return false;
  return expr.items.length === 0 || expr.items.some(hasEmptyPart);
}

/** Whether the expression holds, given which events have fired. */
export function evaluateExpr(expr: Expr, fired: (event: string) => boolean): boolean {
  if (typeof expr === 'string') return fired(expr);
  return expr.op === 'and' ? expr.items.every((item) => evaluateExpr(item, fired)) : expr.items.some((item) => evaluateExpr(item, fired));
}

/** Renders an expression for messages and graphs: `a & (b | c)`. */
export function formatExpr(expr: Expr): string {
  if (typeof expr === 'string') return expr;
  const parts = expr.items.map((item) => (typeof item === 'string' ? item : `(${formatExpr(item)})`));
  return parts.join(expr.op === 'and' ? ' & ' : ' | ');
}
