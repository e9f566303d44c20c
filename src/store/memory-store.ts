import type { RunRecord, StoreRecord } from '../model/records.js';
import { keyPrefix, recordKey, type RecoveryState, type Store } from './store.js';

/** A store that keeps records in this process only: fast, and gone when the process ends. */
export class MemoryStore implements Store {
  readonly location = ':memory:';
  readonly durable = false;
  private readonly records = new Map<string, StoreRecord>();

  async open(): Promise<void> {}

  write(records: readonly StoreRecord[]): void {
    for (const record of records) this.records.set(recordKey(record), record);
  }

  assertStorable(): void {
    // Results stay in this process as they are.
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.records.get(`run\u0000${runId}`) as RunRecord | undefined;
  }

  async listRuns(): Promise<RunRecord[]> {
    return [...this.records.values()].filter((record): record is RunRecord => record.kind === 'run');
  }

  async loadRecovery(runId: string, recovery: number): Promise<RecoveryState> {
    const state: RecoveryState = { tasks: [], events: [], delays: [] };
    const prefixes = { task: keyPrefix('task', runId, recovery), event: keyPrefix('event', runId, recovery), delay: keyPrefix('delay', runId, recovery) };
    for (const [key, record] of this.records) {
      if (record.kind === 'task' && key.startsWith(prefixes.task)) state.tasks.push(record);
      else if (record.kind === 'event' && key.startsWith(prefixes.event)) state.events.push(record);
      else if (record.kind === 'delay' && key.startsWith(prefixes.delay)) state.delays.push(record);
    }
    return state;
  }

  async deleteRun(runId: string): Promise<void> {
    for (const [key, record] of this.records) if (record.runId === runId) this.records.delete(key);
  }

  async close(): Promise<void> {}
}
