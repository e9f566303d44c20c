// A reference interpreter of a FlowSpec, for the property tests only: no actors, no store, no
// timers, no order of execution. It applies the rules of test/rules.test.ts as a fixed point over
// sets (fire what can fire, create what is associated, finish what started, until nothing
// changes), so that reading it is enough to believe it.
import type { Expr, FlowSpec, StepSpec } from '../../src/index.js';
import { taskKey, type Final, type ModelTask, type Outcome, type RecordAt } from './outcome.js';

/** Whether a step's code fails for a sequence: the one thing a FlowSpec cannot tell. */
export type Fails = (step: string, sequence: string) => boolean;

/** How far a task got: the full model lets every task get everywhere; a check of a stopped run passes what it saw. */
export type Progress = (step: string, sequence: string) => { ready: boolean; started: boolean };

/** Whether an expression holds, given which events have fired (for one sequence). */
function holds(expr: Expr, fired: (event: string) => boolean): boolean {
  if (typeof expr === 'string') return fired(expr);
  return expr.op === 'and' ? expr.items.every((item) => holds(item, fired)) : expr.items.some((item) => holds(item, fired));
}

/** A failure is handled when the step has failure or complete triggers (a dialect's reports never handle). */
function handlesFailure(step: StepSpec): boolean {
  return (step.triggers.failure?.length ?? 0) + (step.triggers.complete?.length ?? 0) > 0;
}

/** Whether a failure of `step` stops the run: unhandled, with stopOnException (the step's, else the run's). */
export function stopsRun(spec: FlowSpec, step: StepSpec): boolean {
  return !handlesFailure(step) && (step.config.stopOnException ?? spec.config.stopOnException ?? true);
}

/** The events a task fires on entering `status`; complete triggers fire on success and on failure. */
function triggersOn(step: StepSpec, status: 'ready' | 'active' | Final): string[] {
  const own = step.triggers[status] ?? [];
  return status === 'success' || status === 'failure' ? [...own, ...(step.triggers.complete ?? [])] : own;
}

/**
 * What a run of `spec` comes to. Everything a task triggers carries its sequence, so the only
 * sequences are those of the first triggers. With the default `progress`, every task created
 * starts and finishes: that is the whole run when nothing stops it, and a bound on any run.
 */
export function modelEventor(spec: FlowSpec, fails: Fails, progress: Progress = () => ({ ready: true, started: true })): Outcome {
  const sequences = new Set(spec.triggers.map((trigger) => trigger.sequence));
  const fired = new Set<string>(); // event/sequence
  const tasks = new Map<string, ModelTask>();
  let changed = true;
  const fire = (event: string, sequence: string) => {
    if (fired.has(taskKey(event, sequence))) return;
    fired.add(taskKey(event, sequence));
    changed = true;
  };
  while (changed) {
    changed = false;
    for (const { event, sequence } of spec.triggers) fire(event, sequence);
    for (const sequence of sequences) {
      const hasFired = (event: string) => fired.has(taskKey(event, sequence));
      // An expression event fires once its expression holds; a direct trigger fires it as well.
      for (const event of spec.events) if (event.expr !== undefined && holds(event.expr, hasFired)) fire(event.name, sequence);
      for (const assoc of spec.assocs) {
        if (!hasFired(assoc.event)) continue;
        for (const target of assoc.targets) {
          if (target.kind === 'event') fire(target.name, sequence);
          else if (!tasks.has(taskKey(target.name, sequence))) {
            tasks.set(taskKey(target.name, sequence), { step: target.name, sequence });
            changed = true;
          }
        }
      }
      for (const step of spec.steps) {
        const task = tasks.get(taskKey(step.name, sequence));
        if (!task) continue;
        const { ready, started } = progress(step.name, sequence);
        if (ready) for (const event of triggersOn(step, 'ready')) fire(event, sequence);
        if (!started) continue;
        // A task that starts always finishes (running tasks finish even in a stopped run).
        task.status = fails(step.name, sequence) ? 'failure' : 'success';
        for (const event of [...triggersOn(step, 'active'), ...triggersOn(step, task.status)]) fire(event, sequence);
      }
    }
  }
  const steps = new Map(spec.steps.map((step) => [step.name, step]));
  const failed = [...tasks.values()].filter((task) => task.status === 'failure').map((task) => steps.get(task.step) as StepSpec);
  const stops = failed.some((step) => stopsRun(spec, step));
  return { tasks, stops, ok: !failed.some((step) => !handlesFailure(step)) };
}

/**
 * The record after which each task may first appear: the earliest moment one of the events
 * associated with its step had fired, given when the real run's tasks entered their statuses
 * (-1: fired by the first triggers; Infinity: never). An event fires after the record that
 * triggered it; an `and` once its last part has fired, an `or` once its first has.
 */
export function eventorEnabledAt(spec: FlowSpec, recordAt: RecordAt): (step: string, sequence: string) => number {
  const sequences = new Set(spec.triggers.map((trigger) => trigger.sequence));
  const firedAt = new Map<string, number>(); // event/sequence → record index
  const at = (event: string, sequence: string) => firedAt.get(taskKey(event, sequence)) ?? Infinity;
  let changed = true;
  const fireBy = (event: string, sequence: string, time: number) => {
    if (time >= at(event, sequence)) return;
    firedAt.set(taskKey(event, sequence), time);
    changed = true;
  };
  const exprAt = (expr: Expr, sequence: string): number => {
    if (typeof expr === 'string') return at(expr, sequence);
    const times = expr.items.map((item) => exprAt(item, sequence));
    return expr.op === 'and' ? Math.max(...times) : Math.min(...times);
  };
  // Times only decrease, and there are finitely many, so this ends.
  while (changed) {
    changed = false;
    for (const { event, sequence } of spec.triggers) fireBy(event, sequence, -1);
    for (const sequence of sequences) {
      for (const event of spec.events) if (event.expr !== undefined) fireBy(event.name, sequence, exprAt(event.expr, sequence));
      for (const assoc of spec.assocs) for (const target of assoc.targets) if (target.kind === 'event') fireBy(target.name, sequence, at(assoc.event, sequence));
      for (const step of spec.steps) {
        for (const status of ['ready', 'active', 'success', 'failure'] as const) {
          for (const event of triggersOn(step, status)) fireBy(event, sequence, recordAt(step.name, sequence, status));
        }
      }
    }
  }
  return (step, sequence) => Math.min(...spec.assocs.filter((assoc) => assoc.targets.some((target) => target.kind === 'step' && target.name === step)).map((assoc) => at(assoc.event, sequence)));
}
