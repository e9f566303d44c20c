import { assign, emit, setup } from 'xstate';
import { evaluateExpr, type Expr } from '../model/expr.js';
import type { Sequence } from '../model/spec.js';

/** What an event machine knows: the sequences it fired for, and for an expression event what it has seen. */
export interface EventContext {
  name: string;
  expr?: Expr;
  fired: Set<Sequence>;
  /** Per sequence not yet fired: the events of the expression that have fired for it. */
  seen: Map<Sequence, Set<string>>;
}

/** How an event machine is created. */
export interface EventInput {
  name: string;
  expr?: Expr;
}

/** What an event machine is told: a direct trigger, or that an event of its expression fired. */
export type EventEvent = { type: 'trigger'; sequence: Sequence } | { type: 'source'; source: string; sequence: Sequence };

/** What an event machine announces: it fired for a sequence. */
export type EventEmitted = { type: 'fired'; sequence: Sequence };

/**
 * One event of a flow. It fires at most once per sequence: when triggered, or, for an expression
 * event, as soon as its expression holds for that sequence.
 * The sets grow in place: copying them on every fire would make n sequences cost n².
 */
export const eventMachine = setup({
  types: {
    context: {} as EventContext,
    input: {} as EventInput,
    events: {} as EventEvent,
    emitted: {} as EventEmitted,
  },
  guards: {
    isNew: ({ context, event }) => !context.fired.has(event.sequence),
    completesExpression: ({ context, event }) => {
      if (event.type !== 'source' || context.expr === undefined || context.fired.has(event.sequence)) return false;
      const seen = context.seen.get(event.sequence);
      return evaluateExpr(context.expr, (name) => name === event.source || (seen?.has(name) ?? false));
    },
  },
  actions: {
    fire: assign(({ context, event }) => {
      context.fired.add(event.sequence);
      context.seen.delete(event.sequence);
      return {};
    }),
    announce: emit(({ event }) => ({ type: 'fired' as const, sequence: event.sequence })),
    remember: assign(({ context, event }) => {
      if (event.type !== 'source' || context.fired.has(event.sequence)) return {};
      let seen = context.seen.get(event.sequence);
      if (!seen) context.seen.set(event.sequence, (seen = new Set()));
      seen.add(event.source);
      return {};
    }),
  },
}).createMachine({
  id: 'event',
  context: ({ input }) => ({ name: input.name, expr: input.expr, fired: new Set(), seen: new Map() }),
  initial: 'listening',
  states: {
    listening: {
      on: {
        trigger: { guard: 'isNew', actions: ['fire', 'announce'] },
        source: [{ guard: 'completesExpression', actions: ['fire', 'announce'] }, { actions: 'remember' }],
      },
    },
  },
});
