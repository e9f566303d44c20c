import type { DelayRecord, EventRecord, RunRecord, StoreRecord, TaskRecord } from '../model/records.js';

/** Everything one recovery of a run wrote: the latest record of each task, the events fired, the delays. */
export interface RecoveryState {
  tasks: TaskRecord[];
  events: EventRecord[];
  delays: DelayRecord[];
}

/**
 * Where runs are kept. The runtime writes every transition through `write`, a batch per turn of
 * the event loop; recover and continue read a recovery back with `loadRecovery`. A store that is
 * not `durable` is never asked to bring a run back.
 */
export interface Store {
  /** What the store is, for messages: ':memory:', a folder, a NATS bucket. */
  readonly location: string;
  /** Whether records survive the process, so that recover and continue can use them. */
  readonly durable: boolean;
  /** Opens the store; fails with StoreLockedError when another run holds it. */
  open(): Promise<void>;
  /** Writes one batch atomically; a later record for the same key replaces the earlier. */
  write(records: readonly StoreRecord[]): Promise<void> | void;
  /** Throws when `value` could not be stored as a task's result. */
  assertStorable(value: unknown): void;
  getRun(runId: string): Promise<RunRecord | undefined>;
  listRuns(): Promise<RunRecord[]>;
  loadRecovery(runId: string, recovery: number): Promise<RecoveryState>;
  /** The task records of one recovery, one at a time: a recovery of a million tasks need not hold them all at once. */
  eachTask(runId: string, recovery: number): AsyncIterable<TaskRecord>;
  /** Removes a run and all its recoveries. */
  deleteRun(runId: string): Promise<void>;
  close(): Promise<void>;
}

const SEP = '\u0000';

/**
 * What a name may not hold as it is inside a key: the separator, the escape mark, and lone
 * surrogates (UTF-8 keys would turn each into U+FFFD, so two names would share one key).
 */
const UNSAFE_IN_KEY = /[\u0000\u0001]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A run id, step, event or sequence as a part of a key: unchanged unless it holds one of
 * UNSAFE_IN_KEY, each of which becomes \u0001 and four hex digits. Every mark starts an escape
 * of fixed length, so two names never make one key, and no name reaches into the next part.
 */
export function keyPart(name: string): string {
  return name.replace(UNSAFE_IN_KEY, (char) => `\u0001${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Recovery numbers padded so that keys sort by number. */
const padRecovery = (recovery: number) => String(recovery).padStart(6, '0');

/** The prefix of every key of one kind of record of a run (and, if given, of one recovery); it ends with the separator. */
export function keyPrefix(kind: StoreRecord['kind'], runId: string, recovery?: number): string {
  const run = `${kind}${SEP}${keyPart(runId)}${SEP}`;
  return recovery === undefined ? run : `${run}${padRecovery(recovery)}${SEP}`;
}

/** The key of the run record of `runId`. */
export function runKey(runId: string): string {
  return `run${SEP}${keyPart(runId)}`;
}

/** The prefix of every run record's key. */
export const RUN_PREFIX = `run${SEP}`;

/**
 * The key range of every key that starts with `prefix` (which ends with the separator). The
 * bound is the prefix with its last separator raised by one: an upper bound of '\uffff' would
 * leave out every name that starts beyond the Basic Multilingual Plane, since UTF-8 sorts those
 * (F0..F4) above it (EF BF BF).
 */
export function prefixRange(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: `${prefix.slice(0, -1)}\u0001` };
}

/** The key a record is kept under: one per run, and per recovery one per task, event fire and delay. */
export function recordKey(record: StoreRecord): string {
  switch (record.kind) {
    case 'run':
      return runKey(record.runId);
    case 'task':
      return `${keyPrefix('task', record.runId, record.recovery)}${keyPart(record.context.step)}${SEP}${keyPart(record.context.sequence)}`;
    case 'event':
      return `${keyPrefix('event', record.runId, record.recovery)}${keyPart(record.event)}${SEP}${keyPart(record.sequence)}`;
    case 'delay':
      return `${keyPrefix('delay', record.runId, record.recovery)}${keyPart(record.event)}${SEP}${keyPart(record.sequence)}${SEP}${record.dueAt}`;
  }
}

/** The run started last, by its start time. */
export function latestRun(runs: RunRecord[]): RunRecord | undefined {
  return runs.reduce<RunRecord | undefined>((latest, run) => (!latest || run.startedAt > latest.startedAt || (run.startedAt === latest.startedAt && run.runId > latest.runId) ? run : latest), undefined);
}
