import type { ErrorRecord } from './errors.js';
import type { Sequence } from './spec.js';
import type { StepReplay, TaskStatus } from './status.js';

/** Format version of every stored record and message; bumped on any incompatible change. */
export const RECORD_VERSION = 2;

/** What a task's machine knows (its XState context): which task it is, its step's policy, and what came of it. */
export interface TaskContext {
  step: string;
  sequence: Sequence;
  /** Tries started so far. */
  attempts: number;
  /** Waiting or retrying: the absolute time (ms since the epoch) at which it becomes ready. */
  dueAt?: number;
  /** The time (ms since the epoch) its latest try started, as the `start` event gave it. */
  startedAt?: number;
  /** Active, with a timeout: the time by which the try must end. */
  deadlineAt?: number;
  result?: unknown;
  error?: ErrorRecord;
  /** Set when a recovery replayed the outcome of this recovery instead of running the task. */
  skippedFrom?: number;
  /** The agent that ran its last try, for a step on other hosts. */
  host?: string;
  /** Active and handed to another system: the token that `eventor complete` finishes it with. */
  deferred?: string;
  retries?: number;
  retryDelayMs?: number;
  retryBackoff?: number;
  timeoutMs?: number;
  /** A recovery's earlier record of the task and the step's replay map, until the machine has decided. */
  earlier?: EarlierOutcome;
  replayMap?: Partial<Record<TaskStatus, StepReplay>>;
  /** A skip that waits to take again what its earlier run kept, with the outcome it will replay. */
  reclaims?: boolean;
  replayed?: EarlierOutcome;
}

/** What a recovery knows of a task from the lineage it takes up. */
export interface EarlierOutcome {
  status: TaskStatus;
  result?: unknown;
  error?: ErrorRecord;
  dueAt?: number;
  /** The recovery that wrote it. */
  recovery: number;
  /** Tries it had started, kept for a task that was active: a recovery finds its remote try by it. */
  attempts?: number;
  /** A task that was active and deferred: its token, which a recovery keeps waiting for. */
  deferred?: string;
  /** A deferred task's deadline, which a recovery keeps. */
  deadlineAt?: number;
}

/**
 * The latest state of one task (one step for one sequence), as stored: its machine's
 * persisted snapshot (`getPersistedSnapshot()`), so that `createActor(taskMachine, { snapshot:
 * record })` restores it, plus where it belongs and when it was taken.
 */
export interface TaskRecord {
  v: typeof RECORD_VERSION;
  kind: 'task';
  runId: string;
  recovery: number;
  at: number;
  /** XState's status of the actor: 'done' once the task is final. */
  status: 'active' | 'done';
  /** The task's status: the machine's state. */
  value: TaskStatus;
  context: TaskContext;
  children: Record<string, never>;
  historyValue: Record<string, never>;
  /** XState's output and error of the actor: the task's own outcome is in `context`. */
  output: undefined;
  error: undefined;
}

/** One event fired for one sequence. */
export interface EventRecord {
  v: typeof RECORD_VERSION;
  kind: 'event';
  runId: string;
  recovery: number;
  event: string;
  sequence: Sequence;
  at: number;
}

/** An association to an event, waiting for its delay. */
export interface DelayRecord {
  v: typeof RECORD_VERSION;
  kind: 'delay';
  runId: string;
  recovery: number;
  /** The event the delay will fire. */
  event: string;
  sequence: Sequence;
  dueAt: number;
  /** Whether it has fired; kept so that a recovery knows not to fire it again. */
  done: boolean;
}

/** Outcome of a run, as stored and listed; `waiting` ended a loop with delays still pending. */
export type RunStatus = 'running' | 'waiting' | 'success' | 'failure' | 'stopped';

/** Tasks of a run by status, as of its latest recovery. */
export type TaskCounts = Partial<Record<TaskStatus, number>>;

/** One run of a flow, with its recoveries counted. */
export interface RunRecord {
  v: typeof RECORD_VERSION;
  kind: 'run';
  runId: string;
  name: string;
  startedAt: number;
  /** The latest recovery: 0 for the first run, then 1, 2, ... */
  recovery: number;
  status: RunStatus;
  updatedAt: number;
  /** Hash of the flow's structure: a recovery must come from the same flow. */
  fingerprint: string;
  /** For each recovery, the recovery it took up (-1 for the first run): a recovery sees its whole lineage. */
  parents: number[];
  steps: string[];
  events: string[];
  counts: TaskCounts;
}

/** Anything the runtime writes to a store. */
export type StoreRecord = TaskRecord | EventRecord | DelayRecord | RunRecord;

/** What `subscribe()` listeners get for every task transition: plain data only. */
export interface TransitionRecord {
  runId: string;
  step: string;
  sequence: Sequence;
  status: TaskStatus;
  result?: unknown;
  error?: ErrorRecord;
  host: string;
  at: number;
  /** For a step that acquires or releases resources: each pool's use after the transition. */
  pools?: Record<string, { used: number; limit: number }>;
  /** An active task its code handed to another system: the token that completes it. */
  deferred?: string;
}
