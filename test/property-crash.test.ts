// The crash property: a random Eventor or Sequent flow (test/model/arbitraries.ts, with no
// failure that stops the run, so that its outcome does not depend on timing) runs on a real
// LevelDB folder in a child process (test/fixtures/property-flow.mjs), is killed with SIGKILL
// after a random number of executions, and is recovered with RunMode.recover, killed again
// perhaps, until a process finishes. Then the store must hold exactly the model's tasks with
// the model's statuses, the last run() must resolve as the model says, and no task whose
// success was on record at a kill may have run again (only a task active or failed at a kill
// may). Kills count executions, not milliseconds, so that a slow machine changes nothing.
//
// Seeded as test/property.test.ts is (EVENTOR_PROPERTY_SEED, EVENTOR_PROPERTY_PATH); each case
// spawns processes, so it runs a tenth of EVENTOR_PROPERTY_RUNS (20 by default).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { TaskStatus } from '../src/index.js';
import { LevelStore } from '../src/store/level-store.js';
import { eventorFlows, propertyParameters, sequentFlows } from './model/arbitraries.js';
import { modelEventor } from './model/eventor-model.js';
import { buildEventor, failsFor, type EventorFlow, type SequentFlow } from './model/flows.js';
import { taskKey, type Outcome } from './model/outcome.js';
import { modelSequent } from './model/sequent-model.js';

const RUNS = Math.max(1, Math.round(Number(process.env.EVENTOR_PROPERTY_RUNS ?? 200) / 10));
const fixture = fileURLToPath(new URL('./fixtures/property-flow.mjs', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));

/** A process that never ends is a hang, not slowness: the flows here take well under a second. */
const PROCESS_HANG_MS = 120_000;

/** When to kill one process: after this many executions (0: as soon as it starts), and this many ms later. */
interface Kill {
  executions: number;
  laterMs: number;
}

interface ProcessOutcome {
  pid: number;
  killed: boolean;
  /** What run() resolved to, for a process that finished. */
  result?: boolean;
}

/** Runs the flow in a child process, killed with SIGKILL as `kill` says (undefined: never). */
function runChild(mode: 'restart' | 'recover', files: { store: string; flow: string; log: string }, kill: Kill | undefined): Promise<ProcessOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, mode, files.store, files.flow, files.log], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    let executions = 0;
    let result: boolean | undefined;
    const killNow = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const killLater = () => (kill && kill.laterMs > 0 ? setTimeout(killNow, kill.laterMs) : killNow());
    const hang = setTimeout(() => {
      killNow();
      reject(new Error(`the flow did not finish in ${PROCESS_HANG_MS / 1000} s (${mode}):\n${stderr}`));
    }, PROCESS_HANG_MS);
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const lines = stdout.split('\n');
      stdout = lines.pop() as string;
      for (const line of lines) {
        if (line === 'started' && kill?.executions === 0) killLater();
        else if (line === 'ran' && ++executions === kill?.executions) killLater();
        else if (line.startsWith('result ')) result = line === 'result true';
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(hang);
      const killed = signal === 'SIGKILL';
      if (!killed && (code !== 0 || result === undefined)) reject(new Error(`the flow exited ${code} without being killed:\n${stderr}`));
      else resolve({ pid: child.pid as number, killed, result });
    });
  });
}

/** Each task's latest status over every recovery of the store's one run; undefined when no run is on record yet. */
async function recordedStatuses(folder: string): Promise<Map<string, TaskStatus> | undefined> {
  const store = new LevelStore(folder);
  await store.open();
  try {
    const runs = await store.listRuns();
    if (runs.length === 0) return undefined;
    assert.equal(runs.length, 1, 'one run per case');
    const statuses = new Map<string, TaskStatus>();
    for (let recovery = 0; recovery <= runs[0].recovery; recovery++) {
      for (const task of (await store.loadRecovery(runs[0].runId, recovery)).tasks) statuses.set(taskKey(task.context.step, task.context.sequence), task.value);
    }
    return statuses;
  } finally {
    await store.close();
  }
}

/** A flow of either dialect, as the fixture reads it. */
type AnyFlow = { kind: 'eventor'; flow: EventorFlow } | { kind: 'sequent'; flow: SequentFlow };

/** The model's outcome of a flow; for Eventor, of the FlowSpec of the Eventor the fixture builds. */
async function modelOf({ kind, flow }: AnyFlow): Promise<Outcome> {
  if (kind === 'sequent') return modelSequent(flow);
  const ev = buildEventor(flow, { name: 'property', store: ':memory:' });
  const spec = ev.toSpec();
  await ev.close();
  const described = new Map(flow.steps.map((step) => [step.name, step]));
  return modelEventor(spec, (step, sequence) => failsFor(described.get(step) as EventorFlow['steps'][number], sequence));
}

/** What the kills did, over all cases, for the test's diagnostic line. */
const tally = { cases: 0, processes: 0, kills: 0, midRun: 0, reruns: 0 };

async function crashAndRecover(flow: AnyFlow, kills: { after: number; laterMs: number }[]): Promise<void> {
  tally.cases++;
  const model = await modelOf(flow);
  const folder = mkdtempSync(join(tmpdir(), 'eventor-property-crash-'));
  try {
    const files = { store: join(folder, 'store'), flow: join(folder, 'flow.json'), log: join(folder, 'executions.log') };
    writeFileSync(files.flow, JSON.stringify(flow));
    writeFileSync(files.log, '');
    const processes: ProcessOutcome[] = [];
    const recordedAtKill: Map<string, TaskStatus>[] = [];
    let mode: 'restart' | 'recover' = 'restart';
    for (;;) {
      const planned = kills[processes.length];
      // Up to one kill per task the flow has, so that kills land mid-run as often as not.
      const kill = planned && { executions: planned.after % (model.tasks.size + 1), laterMs: planned.laterMs };
      const outcome = await runChild(mode, files, kill);
      processes.push(outcome);
      if (!outcome.killed) break;
      const recorded = await recordedStatuses(files.store);
      // Killed before its run was on record: nothing ran, and there is nothing to recover.
      mode = recorded ? 'recover' : 'restart';
      recordedAtKill.push(recorded ?? new Map());
      tally.kills++;
      if (recorded && [...recorded.values()].some((status) => status !== 'success' && status !== 'failure')) tally.midRun++;
    }
    tally.processes += processes.length;
    const last = processes.at(-1) as ProcessOutcome;
    assert.equal(last.result, model.ok, 'what the last run() resolves to');
    const final = (await recordedStatuses(files.store)) ?? new Map();
    const statuses = [...final].map(([key, status]) => `${key}:${status}`).sort();
    assert.deepEqual(statuses, [...model.tasks].map(([key, task]) => `${key}:${task.status}`).sort(), 'the tasks on record and their final statuses');

    // Where each task ran, by process; then the promises of recovery, for every execution.
    const executions = readFileSync(files.log, 'utf8').trim().split('\n').filter(Boolean).map((line) => line.split(' '));
    const ranIn = new Map<string, number[]>();
    processes.forEach(({ pid }, k) => {
      const ran = executions.filter(([by]) => Number(by) === pid).map(([, task]) => task);
      assert.equal(new Set(ran).size, ran.length, `no task runs twice in one process (process ${k})`);
      for (const task of ran) ranIn.set(task, [...(ranIn.get(task) ?? []), k]);
    });
    for (const [task, inProcesses] of ranIn) {
      tally.reruns += inProcesses.length - 1;
      assert.ok(model.tasks.has(task), `${task} ran, and the model says it never can`);
      for (let i = 1; i < inProcesses.length; i++) {
        const [earlier, later] = [inProcesses[i - 1], inProcesses[i]];
        for (let kill = earlier; kill < later; kill++) {
          assert.notEqual(recordedAtKill[kill].get(task), 'success', `${task} was on record as success at kill ${kill}, yet ran again in process ${later}`);
        }
        // It ran in the earlier process, so it was on record as active before its code started.
        assert.ok(['active', 'failure'].includes(recordedAtKill[earlier].get(task) as string), `${task} ran in processes ${earlier} and ${later}, and was on record as ${recordedAtKill[earlier].get(task)} at kill ${earlier}`);
      }
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

test('random flows killed with SIGKILL and recovered end as the model says, never rerunning a recorded success', { timeout: 900_000 }, async (t) => {
  const kills = fc.array(fc.record({ after: fc.nat({ max: 999 }), laterMs: fc.constantFrom(0, 0, 1, 3) }), { minLength: 1, maxLength: 3 });
  const flows = fc.oneof(
    eventorFlows({ stops: false }).map((flow): AnyFlow => ({ kind: 'eventor', flow })),
    sequentFlows({ stops: false }).map((flow): AnyFlow => ({ kind: 'sequent', flow })),
  );
  await fc.assert(fc.asyncProperty(flows, kills, crashAndRecover), propertyParameters(RUNS));
  t.diagnostic(`${tally.cases} flows, ${tally.processes} processes, ${tally.kills} kills (${tally.midRun} with unfinished tasks on record), ${tally.reruns} executions repeated a task that was active or failed at a kill`);
});
