// Small shared helpers of the test suite: a quiet in-memory Eventor that closes itself,
// a recorder of subscribe() transitions, hand-made task records, and a few promise utilities.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { currentStep, Eventor, type EventorOptions, type TaskContext, type TaskRecord, type TaskStatus, type TransitionRecord } from '../src/index.js';
import { RECORD_VERSION } from '../src/model/records.js';
import { isFinal } from '../src/model/status.js';

/** Per-test limit, so that a run() that never resolves fails its test instead of hanging the suite; generous, so that a slow machine is not a failure. */
export const LIMIT = { timeout: 60_000 } as const;

/** An Eventor with an in-memory store and no console output, closed when the test ends. */
export function makeEventor(t: TestContext, options: EventorOptions = {}): Eventor {
  const { config, ...rest } = options;
  const ev = new Eventor({
    name: 'test',
    store: ':memory:',
    ...rest,
    config: { ...config, logging: { console: false, ...config?.logging } },
  });
  t.after(() => ev.close());
  return ev;
}

/** Every subscribe() transition of an Eventor, in order, with lookups by step, sequence and status. */
export class Recorder {
  readonly records: TransitionRecord[] = [];
  readonly stop: () => void;

  constructor(ev: Eventor) {
    this.stop = ev.subscribe((record) => this.records.push(record));
  }

  /** Records of `step` (and `sequence`, if given), in order. */
  of(step: string, sequence?: string): TransitionRecord[] {
    return this.records.filter((r) => r.step === step && (sequence === undefined || r.sequence === sequence));
  }

  /** Statuses `step` went through for `sequence`, in order. */
  statuses(step: string, sequence: string): TaskStatus[] {
    return this.of(step, sequence).map((r) => r.status);
  }

  /** Index in `records` of the first record of step/sequence/status, or -1. */
  indexOf(step: string, sequence: string, status: TaskStatus): number {
    return this.records.findIndex((r) => r.step === step && r.sequence === sequence && r.status === status);
  }

  /** The first record of step/sequence/status; fails the test when there is none. */
  find(step: string, sequence: string, status: TaskStatus): TransitionRecord {
    const record = this.records.find((r) => r.step === step && r.sequence === sequence && r.status === status);
    if (!record) throw new Error(`no '${status}' record of ${step}/${sequence}; records: ${this.describe()}`);
    return record;
  }

  /** Sequences in which `step` entered `status`, in order. */
  sequencesOf(step: string, status: TaskStatus): string[] {
    return this.records.filter((r) => r.step === step && r.status === status).map((r) => r.sequence);
  }

  /** How many times `step` became active (for any sequence, or for `sequence`). */
  runs(step: string, sequence?: string): number {
    return this.of(step, sequence).filter((r) => r.status === 'active').length;
  }

  describe(): string {
    return this.records.map((r) => `${r.step}/${r.sequence}:${r.status}`).join(', ');
  }
}

/**
 * A fresh folder for one test (say, a store folder inside it), removed when the test ends.
 * Close what uses it (Eventors, stores) within the test: the removal may come before their own after-hooks.
 */
export function tempDir(t: TestContext): string {
  const root = mkdtempSync(join(tmpdir(), 'eventor-test-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/** What a hand-made task record may set besides its task and status. */
export interface TaskRecordFields {
  recovery?: number;
  at?: number;
  /** The machine's context beyond step and sequence: attempts, result, error, dueAt, skippedFrom, ... */
  context?: Partial<TaskContext>;
}

/**
 * A task record as the runtime stores it: the task machine's persisted snapshot (the task's
 * status is its `value`; XState's `status` is 'done' once final) in the record's envelope, so
 * that `createActor(taskMachine, { snapshot })` restores it. For writing runs into a store by hand.
 */
export function taskRecord(runId: string, step: string, sequence: string, status: TaskStatus, fields: TaskRecordFields = {}): TaskRecord {
  const started = status === 'active' || status === 'success' || status === 'failure';
  return {
    v: RECORD_VERSION,
    kind: 'task',
    runId,
    recovery: fields.recovery ?? 0,
    at: fields.at ?? Date.now(),
    status: isFinal(status) ? 'done' : 'active',
    value: status,
    context: { step, sequence, attempts: started ? 1 : 0, ...fields.context },
    children: {},
    historyValue: {},
    output: undefined,
    error: undefined,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise with its resolve function, for steps that wait on one another. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves to `value`, or to 'timed out' after `ms`: lets a step give up instead of hanging a test. */
export function within<T>(promise: Promise<T>, ms = 20_000): Promise<T | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timed out'>((resolve) => (timer = setTimeout(() => resolve('timed out'), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Counts tasks running at once, for the step functions of concurrency tests. */
export class ConcurrencyProbe {
  current = 0;
  max = 0;
  readonly started: string[] = [];

  /** A step function that records its start as `step/sequence`, holds a slot for `ms`, and returns. */
  step(ms = 20): () => Promise<void> {
    return async () => {
      const { name, sequence } = currentStep();
      this.started.push(`${name}/${sequence}`);
      this.current++;
      this.max = Math.max(this.max, this.current);
      try {
        await sleep(ms);
      } finally {
        this.current--;
      }
    };
  }
}

/** The error `fn` throws, synchronously or by rejecting; fails when it throws nothing. */
export async function errorOf(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, and nothing was thrown');
}
