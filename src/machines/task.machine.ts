import { assign, setup } from 'xstate';
import type { ErrorRecord } from '../model/errors.js';
import type { Sequence } from '../model/spec.js';

/** What a task machine knows: which task it is, and what came of it. */
export interface TaskContext {
  step: string;
  sequence: Sequence;
  /** Absolute due time in ms since the epoch: kept in context because XState does not persist `after` timers. */
  dueAt?: number;
  attempts: number;
  result?: unknown;
  error?: ErrorRecord;
  /** Set when a recovery replayed the task by its earlier result instead of running it. */
  skipped?: boolean;
}

/** How a task machine is created. */
export interface TaskInput {
  step: string;
  sequence: Sequence;
  dueAt?: number;
}

/** What the supervisor tells a task. */
export type TaskEvent =
  | { type: 'due' }
  | { type: 'wait' }
  | { type: 'start' }
  | { type: 'succeed'; result: unknown }
  | { type: 'fail'; error: ErrorRecord; retryAt?: number }
  | { type: 'skip'; status: 'success' | 'failure'; result?: unknown; error?: ErrorRecord };

/**
 * The life of one task (one step for one sequence):
 * `waiting` (for a delay) → `ready` → (`acquiring` resources) → `active` → `success` | `failure`, with `retrying`
 * (waiting for the retry delay) between a failed try and the next while tries remain.
 * Pure: the supervisor owns timers and runs the code, and tells the machine what happened.
 */
export const taskMachine = setup({
  types: {
    context: {} as TaskContext,
    input: {} as TaskInput,
    events: {} as TaskEvent,
  },
  guards: {
    isUndelayed: ({ context }) => context.dueAt === undefined,
    replaysFailure: ({ event }) => event.type === 'skip' && event.status === 'failure',
    willRetry: ({ event }) => event.type === 'fail' && event.retryAt !== undefined,
  },
  actions: {
    recordSkip: assign(({ event }) => (event.type === 'skip' ? { result: event.result, error: event.error, skipped: true } : {})),
  },
}).createMachine({
  id: 'task',
  context: ({ input }) => ({ step: input.step, sequence: input.sequence, dueAt: input.dueAt, attempts: 0 }),
  initial: 'waiting',
  // `skip`: a recovery replays a task's earlier outcome instead of running it again.
  states: {
    waiting: {
      always: { guard: 'isUndelayed', target: 'ready' },
      on: {
        due: 'ready',
        skip: [
          { guard: 'replaysFailure', target: 'failure', actions: 'recordSkip' },
          { target: 'success', actions: 'recordSkip' },
        ],
      },
    },
    ready: {
      on: {
        start: { target: 'active', actions: assign({ attempts: ({ context }) => context.attempts + 1 }) },
        // Its resources are not free: it waits for them, first come first served.
        wait: 'acquiring',
        skip: [
          { guard: 'replaysFailure', target: 'failure', actions: 'recordSkip' },
          { target: 'success', actions: 'recordSkip' },
        ],
      },
    },
    acquiring: {
      on: { start: { target: 'active', actions: assign({ attempts: ({ context }) => context.attempts + 1 }) } },
    },
    active: {
      on: {
        succeed: { target: 'success', actions: assign({ result: ({ event }) => event.result }) },
        // The supervisor gives a retry time while tries remain: the try is over, not the task.
        fail: [
          { guard: 'willRetry', target: 'retrying', actions: assign({ error: ({ event }) => event.error, dueAt: ({ event }) => event.retryAt }) },
          { target: 'failure', actions: assign({ error: ({ event }) => event.error }) },
        ],
      },
    },
    retrying: {
      on: { due: { target: 'ready', actions: assign({ error: undefined }) } },
    },
    success: { type: 'final' },
    failure: { type: 'final' },
  },
});
