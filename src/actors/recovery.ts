import { FlowChangedError, NoRunToRecoverError, RecoveryError, RunNotFoundError } from '../model/errors.js';
import { RECORD_VERSION, type EarlierOutcome, type RunRecord, type TaskRecord } from '../model/records.js';
import type { FlowSpec, Sequence } from '../model/spec.js';
import { RunMode } from '../model/status.js';
import { latestRun, type RecoveryState, type Store } from '../store/store.js';

/** The run a supervisor takes up: its record, and what recover replays or continue restores. */
export interface TakenRun {
  run: RunRecord;
  /** Recover and continue: the latest record of every task in the lineage taken up, by task key. */
  replay?: Lineage;
  /** Continue: what the recovery being continued wrote, restored as it was. */
  restore?: RecoveryState;
}

/** What taking up a run needs to know. */
export interface TakeUp {
  store: Store;
  spec: FlowSpec;
  fingerprint: string;
  mode: RunMode;
  /** The run to take up (recover, continue) or to start (restart); missing: the latest, or a new one. */
  runId: string;
  /** Recover: the recovery to take up; missing: the latest. */
  recoveryRun?: number;
}

/** The record of a run that starts now. */
export function newRunRecord(spec: FlowSpec, fingerprint: string, runId: string): RunRecord {
  const now = Date.now();
  return {
    v: RECORD_VERSION,
    kind: 'run',
    runId,
    name: spec.name,
    startedAt: now,
    recovery: 0,
    status: 'running',
    updatedAt: now,
    fingerprint,
    parents: [-1],
    steps: spec.steps.map((step) => step.name),
    events: spec.events.map((event) => event.name),
    counts: {},
  };
}

/** Starts a run (restart), or finds the run that recover or continue takes up and checks that this flow made it. */
export async function takeUpRun({ store, spec, fingerprint, mode, runId, recoveryRun }: TakeUp): Promise<TakenRun> {
  if (mode === RunMode.restart) {
    if (await store.getRun(runId)) {
      throw new RecoveryError(`run ${runId} is already in store ${store.location}: recover or continue it with RunMode.recover or RunMode.continue, or start a new run without giving runId`);
    }
    return { run: newRunRecord(spec, fingerprint, runId) };
  }
  let stored: RunRecord | undefined;
  if (runId) {
    stored = await store.getRun(runId);
    if (!stored) throw new RunNotFoundError(`run ${runId} is not in store ${store.location}: list the runs it has with listRuns(), or leave runId out to take the latest`);
  } else {
    stored = latestRun(await store.listRuns());
    if (!stored) throw new NoRunToRecoverError(`store ${store.location} has no run to ${mode}: run the flow once with RunMode.restart first`);
  }
  const run = stored;
  if (run.fingerprint !== fingerprint) {
    const added = [...spec.steps.filter((step) => !run.steps.includes(step.name)).map((step) => `step ${step.name}`), ...spec.events.filter((event) => !run.events.includes(event.name)).map((event) => `event ${event.name}`)];
    const removed = [...run.steps.filter((name) => !spec.steps.some((step) => step.name === name)).map((name) => `step ${name}`), ...run.events.filter((name) => !spec.events.some((event) => event.name === name)).map((name) => `event ${name}`)];
    throw new FlowChangedError(run.runId, added, removed);
  }
  if (mode === RunMode.continue) {
    const restore = await store.loadRecovery(run.runId, run.recovery);
    const parent = run.parents?.[run.recovery] ?? run.recovery - 1;
    return { run: { ...run, status: 'running' }, restore, replay: parent >= 0 ? await lineageTasks(store, run, parent) : undefined };
  }
  const from = recoveryRun ?? run.recovery;
  if (from > run.recovery) {
    throw new RunNotFoundError(`run ${run.runId} has no recovery ${from}: its recoveries are 0 to ${run.recovery}; leave recoveryRun out to take the latest`);
  }
  const replay = await lineageTasks(store, run, from);
  const parents = run.parents ?? Array.from({ length: run.recovery + 1 }, (_, recovery) => recovery - 1);
  return { run: { ...run, recovery: run.recovery + 1, parents: [...parents, from], status: 'running' }, replay };
}

/**
 * The latest record of every task as recovery `recovery` saw it: its own records over those
 * of the recovery it took up, and so on back to the first run. A recovery that was killed
 * before it had replayed every task so loses none of them.
 */
export async function lineageTasks(store: Store, run: RunRecord, recovery: number): Promise<Lineage> {
  const lineage: number[] = [];
  for (let at = recovery; at >= 0 && !lineage.includes(at); at = run.parents?.[at] ?? at - 1) lineage.unshift(at);
  const tasks = new Lineage();
  for (const at of lineage) {
    for await (const task of store.eachTask(run.runId, at)) tasks.set(task.context.step, task.context.sequence, earlierOutcome(task));
  }
  return tasks;
}

/** What a recovery knows of each earlier task, by step and then by sequence; each is taken once. */
export class Lineage {
  private readonly bySteps = new Map<string, Map<Sequence, EarlierOutcome>>();

  set(step: string, sequence: Sequence, outcome: EarlierOutcome): void {
    let bySequence = this.bySteps.get(step);
    if (!bySequence) this.bySteps.set(step, (bySequence = new Map()));
    bySequence.set(sequence, outcome);
  }

  has(step: string, sequence: Sequence): boolean {
    return this.bySteps.get(step)?.has(sequence) ?? false;
  }

  /** Every task it still holds, as step, sequence and earlier outcome. */
  *entries(): IterableIterator<[string, Sequence, EarlierOutcome]> {
    for (const [step, bySequence] of this.bySteps) for (const [sequence, outcome] of bySequence) yield [step, sequence, outcome];
  }

  /** The task's earlier outcome, let go of: a task is made once, and a recovery's memory shrinks as it goes. */
  take(step: string, sequence: Sequence): EarlierOutcome | undefined {
    const bySequence = this.bySteps.get(step);
    const outcome = bySequence?.get(sequence);
    if (outcome) bySequence?.delete(sequence);
    return outcome;
  }
}

/**
 * What a recovery keeps of a task's record: only what its machine needs to decide, so that a
 * run of a million tasks is not held in memory record by record. A skip that was still waiting
 * to take its resources again replays what it was to replay.
 */
function earlierOutcome(record: TaskRecord): EarlierOutcome {
  const { context } = record;
  if (context.replayed) return context.replayed;
  // Most tasks of a finished run ended with nothing to keep but their status: they share one object.
  if (record.value === 'active') {
    const active: EarlierOutcome = { status: 'active', recovery: record.recovery, attempts: context.attempts };
    if (context.deferred !== undefined) {
      active.deferred = context.deferred;
      if (context.deadlineAt !== undefined) active.deadlineAt = context.deadlineAt;
    }
    return active;
  }
  if (context.result === undefined && context.error === undefined && context.dueAt === undefined) return plainOutcome(record.value, record.recovery);
  const earlier: EarlierOutcome = { status: record.value, recovery: record.recovery };
  if (context.result !== undefined) earlier.result = context.result;
  if (context.error !== undefined) earlier.error = context.error;
  if (context.dueAt !== undefined) earlier.dueAt = context.dueAt;
  return earlier;
}

const plainOutcomes = new Map<string, EarlierOutcome>();

/** The one frozen outcome of a status in a recovery, for every task that kept nothing else. */
function plainOutcome(status: TaskRecord['value'], recovery: number): EarlierOutcome {
  const key = `${status}/${recovery}`;
  let outcome = plainOutcomes.get(key);
  if (!outcome) plainOutcomes.set(key, (outcome = Object.freeze({ status, recovery })));
  return outcome;
}
