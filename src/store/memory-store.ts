import type { RunRecord, StoreRecord, TaskRecord } from '../model/records.js';
import { recordKey, type Store } from './store.js';

/** A store that keeps records in this process only: fast, and gone when the process ends. */
export class MemoryStore implements Store {
  readonly location = ':memory:';
  readonly durable = false;
  private readonly runs = new Map<string, RunRecord>();
  private readonly tasks = new Map<string, Map<string, TaskRecord>>();
  private readonly other = new Map<string, StoreRecord>();

  async open(): Promise<void> {}

  write(records: readonly StoreRecord[]): void {
    for (const record of records) {
      if (record.kind === 'run') this.runs.set(record.runId, record);
      else if (record.kind === 'task') {
        let tasks = this.tasks.get(record.runId);
        if (!tasks) this.tasks.set(record.runId, (tasks = new Map()));
        tasks.set(`${record.step}\u0000${record.sequence}`, record);
      } else this.other.set(recordKey(record), record);
    }
  }

  async listRuns(): Promise<RunRecord[]> {
    return [...this.runs.values()];
  }

  async listTasks(runId: string): Promise<TaskRecord[]> {
    return [...(this.tasks.get(runId)?.values() ?? [])];
  }

  async close(): Promise<void> {}
}
