import type { DelayRecord, EventRecord, RunRecord, StoreRecord, TaskRecord } from '../model/records.js';
import { keyPart, type RecoveryState, type Store } from './store.js';

/** The records of one recovery of a run, each kind by its own key. */
interface Bucket {
  tasks: Map<string, TaskRecord>;
  events: Map<string, EventRecord>;
  delays: Map<string, DelayRecord>;
}

/** A store that keeps records in this process only: fast, and gone when the process ends. */
export class MemoryStore implements Store {
  readonly location = ':memory:';
  readonly durable = false;
  private readonly runs = new Map<string, RunRecord>();
  private readonly buckets = new Map<string, Map<number, Bucket>>();
  /** The bucket written last: nearly every write goes to the same one. */
  private last: { runId: string; recovery: number; bucket: Bucket } | undefined;

  async open(): Promise<void> {}

  write(records: readonly StoreRecord[]): void {
    for (const record of records) {
      if (record.kind === 'run') {
        this.runs.set(record.runId, record);
        continue;
      }
      const bucket = this.bucket(record.runId, record.recovery);
      // Escaped as LevelStore escapes its keys, so that no two names share an entry here either.
      if (record.kind === 'task') bucket.tasks.set(`${keyPart(record.context.step)}\u0000${keyPart(record.context.sequence)}`, record);
      else if (record.kind === 'event') bucket.events.set(`${keyPart(record.event)}\u0000${keyPart(record.sequence)}`, record);
      else bucket.delays.set(`${keyPart(record.event)}\u0000${keyPart(record.sequence)}\u0000${record.dueAt}`, record);
    }
  }

  assertStorable(): void {
    // Results stay in this process as they are.
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.runs.get(runId);
  }

  async listRuns(): Promise<RunRecord[]> {
    return [...this.runs.values()];
  }

  async loadRecovery(runId: string, recovery: number): Promise<RecoveryState> {
    const bucket = this.buckets.get(runId)?.get(recovery);
    return { tasks: [...(bucket?.tasks.values() ?? [])], events: [...(bucket?.events.values() ?? [])], delays: [...(bucket?.delays.values() ?? [])] };
  }

  async *eachTask(runId: string, recovery: number): AsyncIterable<TaskRecord> {
    yield* this.buckets.get(runId)?.get(recovery)?.tasks.values() ?? [];
  }

  async deleteRun(runId: string): Promise<void> {
    this.runs.delete(runId);
    this.buckets.delete(runId);
    if (this.last?.runId === runId) this.last = undefined;
  }

  async close(): Promise<void> {}

  private bucket(runId: string, recovery: number): Bucket {
    if (this.last && this.last.runId === runId && this.last.recovery === recovery) return this.last.bucket;
    let byRecovery = this.buckets.get(runId);
    if (!byRecovery) this.buckets.set(runId, (byRecovery = new Map()));
    let bucket = byRecovery.get(recovery);
    if (!bucket) byRecovery.set(recovery, (bucket = { tasks: new Map(), events: new Map(), delays: new Map() }));
    this.last = { runId, recovery, bucket };
    return bucket;
  }
}
