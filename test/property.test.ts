// Property tests: random flows (test/model/arbitraries.ts) run by the real runtime, in memory,
// and by the reference models (test/model/*-model.ts) must agree on the tasks that run, their
// final statuses, the order of their records and what run() resolves to.
//
// A run that no failure stops is the same whatever its timing, so it must match the model
// exactly. A run that stops depends on timing: which tasks had started when the stopping
// failure came. For those the tests assert what must hold whatever the timing: every task
// that ran was enabled by what had happened, tasks the model says never start never start,
// nothing starts after the stop, each task that ran has the model's status, and (for
// Eventor) the tasks on record are exactly those that what did run leads to, and every task
// that was ready before the stop with a free slot had started.
//
// Seeded and reproducible: on a failure fast-check prints the seed and the path of the
// smallest counterexample; EVENTOR_PROPERTY_SEED (and EVENTOR_PROPERTY_PATH) replay it, and
// EVENTOR_PROPERTY_RUNS sets the number of flows (default 200 Eventor and 100 Sequent flows).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FlowSpec, TransitionRecord } from '../src/index.js';
import { eventorFlows, propertyParameters, sequentFlows } from './model/arbitraries.js';
import { checkLimits, checkLives, checkOrder, checkScheduling, checkStopped, limitOf, loggedStatuses, modelStatuses, stopIndex, type Limits } from './model/checks.js';
import { eventorEnabledAt, modelEventor, stopsRun } from './model/eventor-model.js';
import { buildEventor, buildSequent, failsFor, type EventorFlow, type SequentFlow } from './model/flows.js';
import { taskKey } from './model/outcome.js';
import { RunLog } from './model/run-log.js';
import { modelSequent, sequentEnabledAt, sequentSteps } from './model/sequent-model.js';

const RUNS = Number(process.env.EVENTOR_PROPERTY_RUNS ?? 200);

/** Only a hang guard: the default runs take seconds. */
const HANG_GUARD = { timeout: 600_000 };

/** Runs a built flow in memory and gives what run() resolved to, with every transition. */
async function runRecorded(flow: { subscribe(listener: (record: TransitionRecord) => void): unknown; run(): Promise<boolean>; close(): Promise<void> }): Promise<{ ok: boolean; log: RunLog }> {
  const records: TransitionRecord[] = [];
  flow.subscribe((record) => records.push(record));
  try {
    return { ok: await flow.run(), log: new RunLog(records) };
  } finally {
    await flow.close();
  }
}

/** The limits a FlowSpec sets, per run and per step. */
function limitsOf(spec: FlowSpec): Limits {
  const steps = new Map(spec.steps.map((step) => [step.name, limitOf(step.config.maxConcurrent)]));
  return { run: limitOf(spec.config.maxConcurrent), step: (step) => steps.get(step) ?? Infinity, counted: () => true };
}

async function checkEventorFlow(flow: EventorFlow): Promise<void> {
  const ev = buildEventor(flow, { name: 'property', store: ':memory:' });
  // Taken before run(), which takes the first triggers over.
  const spec = ev.toSpec();
  const described = new Map(flow.steps.map((step) => [step.name, step]));
  const fails = (step: string, sequence: string) => failsFor(described.get(step) as EventorFlow['steps'][number], sequence);
  const model = modelEventor(spec, fails);
  const { ok, log } = await runRecorded(ev);

  checkLives(log);
  const enabledAt = eventorEnabledAt(spec, log.at);
  checkOrder(log, (task) => enabledAt(task.step, task.sequence));
  checkLimits(log, limitsOf(spec));
  const steps = new Map(spec.steps.map((step) => [step.name, step]));
  const stopAt = stopIndex(log, (step) => stopsRun(spec, steps.get(step) as FlowSpec['steps'][number]));
  assert.equal(stopAt < Infinity, model.stops, model.stops ? 'the model says the run stops, and no stopping failure is on record' : 'a failure stopped the run, which the model says cannot happen');
  checkScheduling(log, limitsOf(spec), stopAt);
  if (!model.stops) {
    assert.deepEqual(loggedStatuses(log), modelStatuses(model), 'the tasks and their final statuses');
  } else {
    checkStopped(log, stopAt);
    for (const [key, task] of log.tasks) {
      assert.ok(model.tasks.has(key), `${key} ran, and the model says it never can`);
      if (log.started(task)) assert.equal(log.final(task), model.tasks.get(key)?.status, `the final status of ${key}`);
    }
    // Given the tasks that did become ready and start, the tasks on record are exactly those that they lead to.
    const seen = (step: string, sequence: string) => {
      const task = log.tasks.get(taskKey(step, sequence));
      return { ready: task?.statuses.includes('ready') ?? false, started: task !== undefined && log.started(task) };
    };
    assert.deepEqual(loggedStatuses(log), modelStatuses(modelEventor(spec, fails, seen)), 'the tasks on record are those that the tasks that ran lead to');
  }
  assert.equal(ok, model.ok, 'what run() resolves to');
}

async function checkSequentFlow(flow: SequentFlow): Promise<void> {
  const model = modelSequent(flow);
  const steps = sequentSteps(flow);
  const { ok, log } = await runRecorded(buildSequent(flow, { name: 'property', store: ':memory:' }));

  checkLives(log);
  const enabled = sequentEnabledAt(flow, log.at, log.lastAt);
  checkOrder(log, (task) => enabled.get(taskKey(task.step, task.sequence)));
  // A container waiting for its children holds no slot, so only steps with code are counted.
  const leafLimit = (step: string) => {
    const node = steps.get(step)?.node;
    return limitOf(node?.kind === 'leaf' ? node.maxConcurrent : undefined);
  };
  checkLimits(log, { run: limitOf(flow.config.maxConcurrent), step: leafLimit, counted: (step) => steps.get(step)?.node.kind === 'leaf' });
  const stopAt = stopIndex(log, (step) => steps.get(step)?.stops ?? false);
  assert.equal(stopAt < Infinity, model.stops, model.stops ? 'the model says the run stops, and no stopping failure is on record' : 'a failure stopped the run, which the model says cannot happen');
  if (!model.stops) {
    assert.deepEqual(loggedStatuses(log), modelStatuses(model), 'the tasks and their final statuses');
  } else {
    checkStopped(log, stopAt);
    for (const [key, task] of log.tasks) {
      const expected = model.tasks.get(key)?.status;
      if (!log.started(task)) {
        // A container failed by the stop may lead to tasks the model never has; they only get as far as ready.
        if (expected === undefined) assert.ok(task.indices[0] > stopAt, `${key} was created before the stop at record ${stopAt}, and the model says it never can be`);
        continue;
      }
      assert.ok(expected !== undefined, `${key} ran, and the model says it never can`);
      const status = log.final(task);
      // A container still waiting for its children when the run stopped fails.
      const stoppedContainer = steps.get(task.step)?.node.kind === 'container' && status === 'failure' && (task.indices.at(-1) as number) > stopAt;
      if (!stoppedContainer) assert.equal(status, expected, `the final status of ${key}`);
    }
  }
  assert.equal(ok, model.ok, 'what run() resolves to');
}

test('random Eventor flows run as the model says', HANG_GUARD, async () => {
  await fc.assert(fc.asyncProperty(eventorFlows(), checkEventorFlow), propertyParameters(RUNS));
});

test('random Sequent flows run as the model says', HANG_GUARD, async () => {
  await fc.assert(fc.asyncProperty(sequentFlows(), checkSequentFlow), propertyParameters(Math.ceil(RUNS / 2)));
});
