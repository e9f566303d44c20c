import { and, assign, not, setup } from 'xstate';
import { timeoutMessage, type ErrorRecord } from '../model/errors.js';
import type { EarlierOutcome, TaskContext } from '../model/records.js';
import type { Sequence } from '../model/spec.js';
import { StepReplay, type TaskStatus } from '../model/status.js';

export type { TaskContext } from '../model/records.js';

/** How a task machine is created: which task it is, the step's policy, and for a recovery what came of it before. */
export interface TaskInput {
  step: string;
  sequence: Sequence;
  /** Absolute due time (ms since the epoch) of a delayed association. */
  dueAt?: number;
  /** Tries after the first one. */
  retries?: number;
  retryDelayMs?: number;
  retryBackoff?: number;
  timeoutMs?: number;
  /** A recovery: the task's latest record in the lineage it takes up. */
  earlier?: EarlierOutcome;
  /** A recovery: the step's replay map, by earlier status; missing statuses take the defaults (success → skip, else rerun). */
  replay?: Partial<Record<TaskStatus, StepReplay>>;
  /** A skip must first take again the resources its earlier run kept (a lock step whose `releases` is []). */
  reclaims?: boolean;
}

/**
 * What the runtime tells a task. Every event carries the time it happened (`at`), so that
 * the machine itself can decide due times, deadlines and retry times.
 */
export type TaskEvent =
  | { type: 'due'; at: number }
  /** The runtime offers a start; `granted` says whether the step's resources could be taken. */
  | { type: 'start'; at: number; granted: boolean }
  /** `host`: the agent that ran the try, for a step on other hosts. */
  | { type: 'succeed'; at: number; result: unknown; host?: string }
  /** `stopping`: the run is stopping, so no try is left whatever the step's retries say. */
  | { type: 'fail'; at: number; error: ErrorRecord; stopping?: boolean; host?: string }
  /** Continue mode: a task that was active when its run stopped (interrupted) is ready again. */
  | { type: 'resume' }
  /** The task's code handed its completion to another system: it stays active, waiting for `token`. */
  | { type: 'defer'; at: number; token: string };

const replayOf = (context: TaskContext): StepReplay | undefined => {
  const earlier = context.earlier;
  if (!earlier || (earlier.status !== 'success' && earlier.status !== 'failure')) return undefined;
  return context.replayMap?.[earlier.status] ?? (earlier.status === 'success' ? StepReplay.skip : StepReplay.rerun);
};

/** The agent that ran a try, for the context, when one did; local tasks keep no host. */
const ranOn = (event: TaskEvent): { host?: string } => ((event.type === 'succeed' || event.type === 'fail') && event.host !== undefined ? { host: event.host } : {});

/** A deferred task's token goes once it is completed; a task that never deferred gets no key for it. */
const undefer = (context: TaskContext): { deferred?: undefined } => (context.deferred !== undefined ? { deferred: undefined } : {});

/** When the event happened, as the runtime said. */
const atOf = (event: TaskEvent): number => ('at' in event ? event.at : 0);

/**
 * The life of one task (one step for one sequence):
 * `waiting` (for a delay) → `ready` → (`acquiring` resources) → `active` → `success` | `failure`,
 * with `retrying` (waiting for the retry time) between a failed try and the next while tries
 * remain. The machine alone decides each next status: the runtime tells it what happened (a
 * start offered, a result, an error, a due time reached) and acts on the status it reaches.
 * Pure: the runtime owns timers and runs the code.
 */
export const taskMachine = setup({
  types: {
    context: {} as TaskContext,
    input: {} as TaskInput,
    events: {} as TaskEvent,
  },
  guards: {
    /** A recovery keeps the earlier outcome of a finished task whose step's replay map says skip. */
    skipsEarlier: ({ context }) => replayOf(context) === StepReplay.skip,
    earlierSucceeded: ({ context }) => context.earlier?.status === 'success' || context.replayed?.status === 'success',
    reclaims: ({ context }) => context.reclaims === true,
    hasEarlier: ({ context }) => context.earlier !== undefined,
    isDelayed: ({ context }) => context.dueAt !== undefined,
    isDue: ({ context, event }) => context.dueAt === undefined || atOf(event) >= context.dueAt,
    granted: ({ event }) => event.type === 'start' && event.granted,
    replays: ({ context }) => context.replayed !== undefined,
    triesLeft: ({ context, event }) => !(event.type === 'fail' && event.stopping) && context.attempts <= (context.retries ?? 0),
    pastDeadline: ({ context, event }) => context.deadlineAt !== undefined && atOf(event) > context.deadlineAt,
    isDeferred: ({ context }) => context.deferred !== undefined,
    /** A recovery takes up a deferred task as it was: still waiting for its token, not run again. */
    resumesDeferred: ({ context }) => context.earlier?.status === 'active' && context.earlier.deferred !== undefined,
  },
  actions: {
    /** A delay that was already counting in the earlier run keeps its due time. */
    keepEarlierDelay: assign(({ context }) => ({ dueAt: context.earlier?.dueAt ?? context.dueAt, earlier: undefined, replayMap: undefined })),
    forgetEarlier: assign({ earlier: undefined, replayMap: undefined }),
    /** A skip that must wait for its resources keeps the outcome it will replay. */
    holdEarlier: assign(({ context }) => {
      const { status, result, error, recovery } = context.earlier as EarlierOutcome;
      return { replayed: { status, result, error, recovery }, earlier: undefined, replayMap: undefined, dueAt: undefined };
    }),
    replayEarlier: assign(({ context }) => {
      const { result, error, recovery } = (context.replayed ?? context.earlier) as EarlierOutcome;
      return { result, error, skippedFrom: recovery, earlier: undefined, replayMap: undefined, replayed: undefined, dueAt: undefined };
    }),
    /** A try starts: its start time comes in the `start` event, as every time does. */
    beginTry: assign(({ context, event }) => ({ attempts: context.attempts + 1, startedAt: atOf(event), deadlineAt: context.timeoutMs === undefined ? undefined : atOf(event) + context.timeoutMs })),
    keepResult: assign(({ context, event }) => ({ result: event.type === 'succeed' ? event.result : undefined, deadlineAt: undefined, ...undefer(context), ...ranOn(event) })),
    keepError: assign(({ context, event }) => ({ error: event.type === 'fail' ? event.error : undefined, deadlineAt: undefined, ...undefer(context), ...ranOn(event) })),
    timedOut: assign(({ context }) => ({
      error: { name: 'StepTimeoutError', message: timeoutMessage(context.step, context.sequence, context.timeoutMs as number) },
      deadlineAt: undefined,
      ...undefer(context),
    })),
    keepToken: assign({ deferred: ({ event }) => (event.type === 'defer' ? event.token : undefined) }),
    takeUpDeferred: assign(({ context }) => {
      const { attempts, deferred, deadlineAt } = context.earlier as EarlierOutcome;
      return { attempts: attempts ?? 1, deferred, deadlineAt, earlier: undefined, replayMap: undefined };
    }),
    /** The next try waits retryDelay, times retryBackoff for each try before it. */
    scheduleRetry: assign(({ context, event }) => ({
      dueAt: atOf(event) + (context.retryDelayMs ?? 0) * (context.retryBackoff ?? 1) ** (context.attempts - 1),
    })),
    clearRetry: assign({ error: undefined, dueAt: undefined }),
  },
}).createMachine({
  id: 'task',
  context: ({ input }) => {
    const context: TaskContext = { step: input.step, sequence: input.sequence, attempts: 0 };
    if (input.dueAt !== undefined) context.dueAt = input.dueAt;
    if (input.retries) context.retries = input.retries;
    if (input.retryDelayMs) context.retryDelayMs = input.retryDelayMs;
    if (input.retryBackoff !== undefined && input.retryBackoff !== 1) context.retryBackoff = input.retryBackoff;
    if (input.timeoutMs !== undefined) context.timeoutMs = input.timeoutMs;
    if (input.earlier) {
      context.earlier = input.earlier;
      if (input.replay) context.replayMap = input.replay;
    }
    if (input.reclaims) context.reclaims = true;
    return context;
  },
  initial: 'new',
  states: {
    // Transient: decides where a task starts, before anyone sees it.
    new: {
      always: [
        { guard: and(['skipsEarlier', 'reclaims']), target: 'acquiring', actions: 'holdEarlier' },
        { guard: and(['skipsEarlier', 'earlierSucceeded']), target: 'success', actions: 'replayEarlier' },
        { guard: 'skipsEarlier', target: 'failure', actions: 'replayEarlier' },
        { guard: 'resumesDeferred', target: 'active', actions: 'takeUpDeferred' },
        { guard: and(['hasEarlier', 'isDelayed']), target: 'waiting', actions: 'keepEarlierDelay' },
        { guard: 'hasEarlier', target: 'ready', actions: 'forgetEarlier' },
        // A new task that no recovery knows: its context stays as its input made it.
        { guard: 'isDelayed', target: 'waiting' },
        { target: 'ready' },
      ],
    },
    // A ready task keeps the due time it waited for: a recovery that reruns it keeps a delay that had already counted.
    waiting: {
      on: { due: { guard: 'isDue', target: 'ready' } },
    },
    ready: {
      on: {
        start: [
          { guard: 'granted', target: 'active', actions: 'beginTry' },
          // Its resources are not free: it waits for them, first come first served.
          { target: 'acquiring' },
        ],
      },
    },
    acquiring: {
      on: {
        start: [
          { guard: and(['granted', 'replays', 'earlierSucceeded']), target: 'success', actions: 'replayEarlier' },
          { guard: and(['granted', 'replays']), target: 'failure', actions: 'replayEarlier' },
          { guard: 'granted', target: 'active', actions: 'beginTry' },
        ],
      },
    },
    active: {
      on: {
        succeed: [
          // A step that blocked past its deadline kept its timer from firing: the clock decides.
          { guard: and(['pastDeadline', 'triesLeft']), target: 'retrying', actions: ['timedOut', 'scheduleRetry'] },
          { guard: 'pastDeadline', target: 'failure', actions: 'timedOut' },
          { target: 'success', actions: 'keepResult' },
        ],
        // A failed try with tries left is over, not the task.
        fail: [
          { guard: 'triesLeft', target: 'retrying', actions: ['keepError', 'scheduleRetry'] },
          { target: 'failure', actions: 'keepError' },
        ],
        resume: { guard: not('isDeferred'), target: 'ready', actions: assign({ deadlineAt: undefined }) },
        // Handed to another system: still active, until `eventor complete` sends its outcome.
        defer: { guard: not('isDeferred'), actions: 'keepToken' },
        // A deferred task's deadline: the machine decides whether the wait is over.
        due: [
          { guard: and(['isDeferred', 'pastDeadline', 'triesLeft']), target: 'retrying', actions: ['timedOut', 'scheduleRetry'] },
          { guard: and(['isDeferred', 'pastDeadline']), target: 'failure', actions: 'timedOut' },
        ],
      },
    },
    retrying: {
      on: { due: { guard: 'isDue', target: 'ready', actions: 'clearRetry' } },
    },
    success: { type: 'final' },
    failure: { type: 'final' },
  },
});
