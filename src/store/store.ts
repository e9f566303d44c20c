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
  /** Removes a run and all its recoveries. */
  deleteRun(runId: string): Promise<void>;
  close(): Promise<void>;
}

const SEP = '\u0000';

/** Recovery numbers padded so that keys sort by number. */
const padRecovery = (recovery: number) => String(recovery).padStart(6, '0');

/** The prefix of every key of one kind of record of a run (and, if given, of one recovery). */
export function keyPrefix(kind: StoreRecord['kind'], runId: string, recovery?: number): string {
  return recovery === undefined ? `${kind}${SEP}${runId}${SEP}` : `${kind}${SEP}${runId}${SEP}${padRecovery(recovery)}${SEP}`;
}

/** The key a record is kept under: one per run, and per recovery one per task, event fire and delay. */
export function recordKey(record: StoreRecord): string {
  switch (record.kind) {
    case 'run':
      return `run${SEP}${record.runId}`;
    case 'task':
      return `${keyPrefix('task', record.runId, record.recovery)}${record.step}${SEP}${record.sequence}`;
    case 'event':
      return `${keyPrefix('event', record.runId, record.recovery)}${record.event}${SEP}${record.sequence}`;
    case 'delay':
      return `${keyPrefix('delay', record.runId, record.recovery)}${record.event}${SEP}${record.sequence}${SEP}${record.dueAt}`;
  }
}

/** The run started last, by its start time. */
export function latestRun(runs: RunRecord[]): RunRecord | undefined {
  return runs.reduce<RunRecord | undefined>((latest, run) => (!latest || run.startedAt > latest.startedAt || (run.startedAt === latest.startedAt && run.runId > latest.runId) ? run : latest), undefined);
}
