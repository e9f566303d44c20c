// The subscribe() records of a real run, indexed by task: which statuses each task went
// through and at which record, for comparing the run with a model.
import type { TaskStatus, TransitionRecord } from '../../src/index.js';
import { taskKey, type Final, type RecordAt } from './outcome.js';

/** One task as the records show it. */
export interface LoggedTask {
  step: string;
  sequence: string;
  statuses: TaskStatus[];
  /** The index in the records of each status, in the same order. */
  indices: number[];
}

/** A real run's records, by task. */
export class RunLog {
  readonly tasks = new Map<string, LoggedTask>();

  constructor(readonly records: readonly TransitionRecord[]) {
    records.forEach(({ step, sequence, status }, index) => {
      const key = taskKey(step, sequence);
      const task = this.tasks.get(key) ?? { step, sequence, statuses: [], indices: [] };
      task.statuses.push(status);
      task.indices.push(index);
      this.tasks.set(key, task);
    });
  }

  /** The record at which a task entered a status; Infinity if it never did. */
  readonly at: RecordAt = (step, sequence, status) => {
    const task = this.tasks.get(taskKey(step, sequence));
    const position = task ? task.statuses.indexOf(status) : -1;
    return task && position >= 0 ? task.indices[position] : Infinity;
  };

  /** The last record of a task; -Infinity if it has none. */
  readonly lastAt = (step: string, sequence: string): number => this.tasks.get(taskKey(step, sequence))?.indices.at(-1) ?? -Infinity;

  /** The final status of a task, if it reached one. */
  final(task: LoggedTask): Final | undefined {
    const last = task.statuses.at(-1);
    return last === 'success' || last === 'failure' ? last : undefined;
  }

  /** Whether a task started. */
  started(task: LoggedTask): boolean {
    return task.statuses.includes('active');
  }

  /** The records around one index, for messages. */
  around(index: number, width = 6): string {
    return this.records
      .slice(Math.max(0, index - width), index + width + 1)
      .map((record, offset) => `${Math.max(0, index - width) + offset}:${record.step}/${record.sequence}:${record.status}`)
      .join(', ');
  }
}
