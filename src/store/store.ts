import type { RunRecord, StoreRecord, TaskRecord } from '../model/records.js';

/**
 * Where a run's records live. The runtime writes every transition through `write`; a store
 * that is not `durable` is never asked to bring a run back.
 */
export interface Store {
  /** What the store is, for messages: ':memory:', a folder, a NATS bucket. */
  readonly location: string;
  /** Whether records survive the process, so that recover and continue can use them. */
  readonly durable: boolean;
  open(): Promise<void>;
  /** Writes one batch of records; a later record for the same key replaces the earlier. */
  write(records: readonly StoreRecord[]): Promise<void> | void;
  listRuns(): Promise<RunRecord[]>;
  /** The latest record of every task of a run, in no particular order. */
  listTasks(runId: string): Promise<TaskRecord[]>;
  close(): Promise<void>;
}

/** The key a record is kept under: one per task, event fire, delay or run. */
export function recordKey(record: StoreRecord): string {
  switch (record.kind) {
    case 'run':
      return `run\u0000${record.runId}`;
    case 'task':
      return `task\u0000${record.runId}\u0000${record.step}\u0000${record.sequence}`;
    case 'event':
      return `event\u0000${record.runId}\u0000${record.event}\u0000${record.sequence}`;
    case 'delay':
      return `delay\u0000${record.runId}\u0000${record.event}\u0000${record.sequence}\u0000${record.dueAt}`;
  }
}
