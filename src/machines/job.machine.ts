import { and, assign, setup } from 'xstate';
import type { ErrorRecord } from '../model/errors.js';

/** How a job's code is judged: a plain job by its check, a run-only job by its run alone. */
export type JobKind = 'job' | 'runonly';

/** One phase of a try as the machine judged it, in order: what `verbose` prints. */
export interface JobPhase {
  phase: 'create' | 'check' | 'run' | 'recheck';
  ok: boolean;
  error?: ErrorRecord;
  /** Why the machine judged it so when no user code ran (a run-only job's check). */
  note?: string;
}

/** How a job machine is created: one try of one job. */
export interface JobInput {
  job: string;
  kind: JobKind;
  /** Only checks run; a check that fails fails the job. */
  noAct: boolean;
  /** This try's number, from 1. */
  attempt: number;
  /** Tries the job may have in all. */
  tries: number;
  /** Least time between the starts of two tries. */
  retryDelayMs: number;
}

/** What a job machine knows (its XState context); its persisted snapshot is the job step's stored result. */
export interface JobContext extends JobInput {
  /** When the try started (ms since the epoch), as the `begin` event said. */
  startedAt?: number;
  endedAt?: number;
  phases: JobPhase[];
  /** Passed: what the passing check (or, for a run-only job, the run) returned. */
  result?: unknown;
  /** What the run returned or threw; a plain job's run outcome decides nothing. */
  runResult?: unknown;
  runError?: ErrorRecord;
  /** Whether the run phase was entered: the job's cleanup() is due. */
  ran: boolean;
  /** Failed: the error it failed with. */
  error?: ErrorRecord;
  /** Failed with tries left: the earliest time the next try may start. */
  retryAt?: number;
}

/**
 * What the job step's code tells the machine: that the try began, and how each piece of user code
 * it asked for (constructor, check, run) ended. Every event carries the time it happened.
 */
export type JobEvent =
  | { type: 'begin'; at: number }
  | { type: 'created'; at: number }
  | { type: 'createFailed'; at: number; error: ErrorRecord }
  | { type: 'checkPassed'; at: number; result?: unknown }
  | { type: 'checkFailed'; at: number; error: ErrorRecord }
  | { type: 'runPassed'; at: number; result?: unknown }
  | { type: 'runFailed'; at: number; error: ErrorRecord };

/** The states in which the machine waits for user code: the step's code runs what they name. */
export const JOB_CODE_STATES = ['creating', 'checking', 'running', 'rechecking'] as const;

const atOf = (event: JobEvent): number => event.at;
const phase = (context: JobContext, entry: JobPhase): JobPhase[] => [...context.phases, entry];

/** A run-only job's first check: no code of the user's, it fails so that the run runs. */
const RUNONLY_CHECK = 'a run-only job passes only by running';
const NO_ACT_RUNONLY = 'a run-only job cannot pass under noAct, which runs no run()';

/**
 * One try of an idempotent job (DoJobber's check → run → recheck):
 * `idle` → `creating` (the constructor) → `checking` → `passed` | (`running` → `rechecking` →
 * `passed` | `failed`). The check decides; the run's own outcome is ignored and only the recheck
 * says whether it worked. A run-only job's check fails by itself and its recheck is its run's
 * outcome. Under noAct a failed check fails the job. A failed try with tries left says when the
 * next may start (`retryAt`: this try's start plus the retry delay). Pure: the step's code runs
 * the user's code and tells the machine how it went.
 */
export const jobMachine = setup({
  types: {
    context: {} as JobContext,
    input: {} as JobInput,
    events: {} as JobEvent,
  },
  guards: {
    isRunonly: ({ context }) => context.kind === 'runonly',
    noAct: ({ context }) => context.noAct,
    runFailed: ({ context }) => context.runError !== undefined,
  },
  actions: {
    begin: assign({ startedAt: ({ event }) => atOf(event) }),
    createFailed: assign(({ context, event }) => {
      const error = (event as Extract<JobEvent, { type: 'createFailed' }>).error;
      return { phases: phase(context, { phase: 'create', ok: false, error }), error };
    }),
    checkPassed: assign(({ context, event }) => ({ phases: phase(context, { phase: 'check', ok: true }), result: (event as Extract<JobEvent, { type: 'checkPassed' }>).result })),
    checkFailed: assign(({ context, event }) => {
      const error = (event as Extract<JobEvent, { type: 'checkFailed' }>).error;
      return { phases: phase(context, { phase: 'check', ok: false, error }), error };
    }),
    runonlyCheck: assign(({ context }) => ({ phases: phase(context, { phase: 'check', ok: false, note: RUNONLY_CHECK }) })),
    runonlyNoAct: assign(({ context }) => ({ phases: phase(context, { phase: 'check', ok: false, note: NO_ACT_RUNONLY }), error: { name: 'NoActError', message: `job '${context.job}': ${NO_ACT_RUNONLY}` } })),
    enterRun: assign({ ran: true }),
    runPassed: assign(({ context, event }) => ({ phases: phase(context, { phase: 'run', ok: true }), runResult: (event as Extract<JobEvent, { type: 'runPassed' }>).result })),
    runFailed: assign(({ context, event }) => {
      const error = (event as Extract<JobEvent, { type: 'runFailed' }>).error;
      return { phases: phase(context, { phase: 'run', ok: false, error }), runError: error };
    }),
    recheckPassed: assign(({ context, event }) => ({ phases: phase(context, { phase: 'recheck', ok: true }), result: (event as Extract<JobEvent, { type: 'checkPassed' }>).result, error: undefined })),
    recheckFailed: assign(({ context, event }) => {
      const error = (event as Extract<JobEvent, { type: 'checkFailed' }>).error;
      return { phases: phase(context, { phase: 'recheck', ok: false, error }), error };
    }),
    /** A run-only job's recheck is its run: what the run returned, or what it threw. */
    runonlyRecheckPassed: assign(({ context }) => ({ phases: phase(context, { phase: 'recheck', ok: true }), result: context.runResult, error: undefined })),
    runonlyRecheckFailed: assign(({ context }) => ({ phases: phase(context, { phase: 'recheck', ok: false, error: context.runError }), error: context.runError })),
    end: assign({ endedAt: ({ event }) => atOf(event) }),
    /** Tries counted in all: a job with tries 8 may start eight times; noAct never tries again. */
    scheduleRetry: assign(({ context }) => (context.attempt < context.tries && !context.noAct ? { retryAt: (context.startedAt ?? 0) + context.retryDelayMs } : {})),
  },
}).createMachine({
  id: 'job',
  context: ({ input }) => ({ ...input, phases: [], ran: false }),
  initial: 'idle',
  states: {
    idle: { on: { begin: { target: 'creating', actions: 'begin' } } },
    creating: {
      on: {
        created: 'checking',
        // A job whose constructor throws fails, and the rest of the graph goes on.
        createFailed: { target: 'failed', actions: ['createFailed', 'end', 'scheduleRetry'] },
      },
    },
    checking: {
      always: [
        { guard: and(['isRunonly', 'noAct']), target: 'failed', actions: ['runonlyNoAct', 'end', 'scheduleRetry'] },
        { guard: 'isRunonly', target: 'running', actions: 'runonlyCheck' },
      ],
      on: {
        checkPassed: { target: 'passed', actions: ['checkPassed', 'end'] },
        checkFailed: [
          { guard: 'noAct', target: 'failed', actions: ['checkFailed', 'end', 'scheduleRetry'] },
          { target: 'running', actions: 'checkFailed' },
        ],
      },
    },
    running: {
      entry: 'enterRun',
      on: {
        runPassed: { target: 'rechecking', actions: 'runPassed' },
        runFailed: { target: 'rechecking', actions: 'runFailed' },
      },
    },
    rechecking: {
      always: [
        { guard: and(['isRunonly', 'runFailed']), target: 'failed', actions: ['runonlyRecheckFailed', 'end', 'scheduleRetry'] },
        { guard: 'isRunonly', target: 'passed', actions: ['runonlyRecheckPassed', 'end'] },
      ],
      on: {
        checkPassed: { target: 'passed', actions: ['recheckPassed', 'end'] },
        checkFailed: { target: 'failed', actions: ['recheckFailed', 'end', 'scheduleRetry'] },
      },
    },
    passed: { type: 'final' },
    failed: { type: 'final' },
  },
});
