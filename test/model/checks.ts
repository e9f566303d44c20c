// Assertions that hold of every real run, whatever its timing, given what a model says of its
// flow: each task's life, the order of records, the concurrency limits and, for flows whose
// readiness only changes in the supervisor's own synchronous steps, the scheduling rules.
import assert from 'node:assert/strict';
import { taskKey, type Outcome } from './outcome.js';
import type { LoggedTask, RunLog } from './run-log.js';

/** The lives a task may have without retries or resources: a stopped run may leave it waiting or ready. */
const LIVES = new Set(['waiting', 'ready', 'waiting ready', 'ready active success', 'ready active failure', 'waiting ready active success', 'waiting ready active failure']);

/** Every task went through a possible life, each status once: at most one run per sequence, and every started task finished. */
export function checkLives(log: RunLog): void {
  for (const [key, task] of log.tasks) assert.ok(LIVES.has(task.statuses.join(' ')), `${key} went through ${task.statuses.join(' → ')}`);
}

/**
 * Every task appeared only once something that leads to it had happened: its first record comes
 * after the record from which the model says it is enabled (undefined: the flow has no such task).
 */
export function checkOrder(log: RunLog, enabledAt: (task: LoggedTask) => number | undefined): void {
  for (const [key, task] of log.tasks) {
    const enabled = enabledAt(task);
    assert.ok(enabled !== undefined, `${key} ran, but the flow has no such task`);
    assert.ok(enabled < Infinity, `${key} appeared at record ${task.indices[0]} though nothing that leads to it happened: ${log.around(task.indices[0])}`);
    assert.ok(task.indices[0] > enabled, `${key} appeared at record ${task.indices[0]}, before what enables it (record ${enabled}): ${log.around(task.indices[0])}`);
  }
}

/** Concurrency limits, Infinity for none; `counted` leaves out tasks that hold no slot (Sequent's containers, while they wait). */
export interface Limits {
  run: number;
  step: (step: string) => number;
  counted: (step: string) => boolean;
}

/** A configured limit: below 1 (or none) means no limit. */
export const limitOf = (value: number | undefined): number => (value === undefined || value < 1 ? Infinity : value);

/** At no moment were more tasks active than the run's and each step's maxConcurrent allow. */
export function checkLimits(log: RunLog, limits: Limits): void {
  let active = 0;
  const activeOf = new Map<string, number>();
  log.records.forEach(({ step, status }, index) => {
    if (!limits.counted(step)) return;
    if (status === 'active') {
      active++;
      activeOf.set(step, (activeOf.get(step) ?? 0) + 1);
      assert.ok(active <= limits.run, `${active} tasks active at record ${index}, above the run's maxConcurrent ${limits.run}: ${log.around(index)}`);
      assert.ok((activeOf.get(step) as number) <= limits.step(step), `${activeOf.get(step)} tasks of ${step} active at record ${index}, above its maxConcurrent: ${log.around(index)}`);
    } else if (status === 'success' || status === 'failure') {
      active--;
      activeOf.set(step, (activeOf.get(step) as number) - 1);
    }
  });
}

/**
 * The scheduling rules, for flows in which tasks become ready only inside the supervisor's own
 * synchronous steps (no step code triggers events): every record before a task finishes then
 * shows a state in which the supervisor had started all it could. So:
 * - ready tasks start in the order they became ready, except past a step at its own limit;
 * - until the run stops (record `stopAt`), no ready task waits while its step and the run
 *   have room.
 */
export function checkScheduling(log: RunLog, limits: Limits, stopAt: number): void {
  let active = 0;
  const activeOf = new Map<string, number>();
  const hasRoom = (step: string) => (activeOf.get(step) ?? 0) < limits.step(step);
  let waiting: { key: string; step: string }[] = []; // ready, not started, in the order they became ready
  log.records.forEach(({ step, sequence, status }, index) => {
    const key = taskKey(step, sequence);
    if (status === 'ready') waiting.push({ key, step });
    else if (status === 'active') {
      const position = waiting.findIndex((task) => task.key === key);
      for (const earlier of waiting.slice(0, position)) {
        assert.ok(!hasRoom(earlier.step), `${key} started at record ${index} before ${earlier.key}, which became ready first and whose step had room: ${log.around(index)}`);
      }
      waiting = waiting.filter((task) => task.key !== key);
      active++;
      activeOf.set(step, (activeOf.get(step) ?? 0) + 1);
    } else if (status === 'success' || status === 'failure') {
      if (index <= stopAt) {
        for (const idle of waiting) {
          assert.ok(active >= limits.run || !hasRoom(idle.step), `${idle.key} was ready and had room to start (${active} active) when ${key} finished at record ${index}: ${log.around(index)}`);
        }
      }
      active--;
      activeOf.set(step, (activeOf.get(step) as number) - 1);
    }
  });
}

/** The record at which the run stopped: the first failure of a step whose failure stops the run; Infinity if none. */
export function stopIndex(log: RunLog, stops: (step: string) => boolean): number {
  const index = log.records.findIndex(({ step, status }) => status === 'failure' && stops(step));
  return index < 0 ? Infinity : index;
}

/** After the stop, no task starts and no delayed task becomes ready: the delays stay on record. */
export function checkStopped(log: RunLog, stopAt: number): void {
  log.records.forEach(({ step, sequence, status }, index) => {
    if (index <= stopAt) return;
    assert.notEqual(status, 'active', `${step}/${sequence} started at record ${index}, after the run stopped at record ${stopAt}: ${log.around(index)}`);
    if (status === 'ready') {
      const task = log.tasks.get(taskKey(step, sequence)) as LoggedTask;
      assert.ok(!task.statuses.includes('waiting'), `${step}/${sequence} left its delay at record ${index}, after the run stopped at record ${stopAt}: ${log.around(index)}`);
    }
  });
}

/** Tasks with their final status (or `created` for one that never started), sorted, for deepEqual. */
export function loggedStatuses(log: RunLog): string[] {
  return [...log.tasks].map(([key, task]) => `${key}:${log.final(task) ?? 'created'}`).sort();
}

/** The same list from a model's outcome. */
export function modelStatuses(outcome: Outcome): string[] {
  return [...outcome.tasks].map(([key, task]) => `${key}:${task.status ?? 'created'}`).sort();
}
