import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LevelStore } from '../src/store/level-store.js';
import type { TaskStatus } from '../src/index.js';

const fixture = fileURLToPath(new URL('./fixtures/crash-flow.mjs', import.meta.url));
const SEED = Number(process.env.CRASH_SEED ?? 20261123);
const KILL_POINTS = 50;
const TASKS = 200;

/** A small seeded generator (mulberry32), so that a failing sequence of kills can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Outcome {
  pid: number;
  killed: boolean;
  code: number | null;
  /** Milliseconds from the flow's start to its exit. */
  ran: number;
}

/** Runs the flow in a child process and kills it with SIGKILL `killAfter` ms after it starts running (undefined: never). */
function runChild(mode: 'restart' | 'recover', store: string, log: string, killAfter: number | undefined): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, mode, store, log], { stdio: ['ignore', 'pipe', 'pipe'] });
    let killed = false;
    let stderr = '';
    let started = Date.now();
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.on('data', (chunk: Buffer) => {
      if (!chunk.toString().includes('started')) return;
      started = Date.now();
      if (killAfter !== undefined) setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) killed = child.kill('SIGKILL');
      }, killAfter);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (!killed && code !== 0) reject(new Error(`the flow exited ${code} without being killed:\n${stderr}`));
      else resolve({ pid: child.pid as number, killed, code, ran: Date.now() - started });
    });
  });
}

/**
 * Each task's latest status over every recovery of the store's one run, as a recovery sees it;
 * undefined when the process was killed before it recorded its run (and so before any task ran).
 */
async function recordedStatuses(folder: string): Promise<Map<string, TaskStatus> | undefined> {
  const store = new LevelStore(folder);
  await store.open();
  try {
    const runs = await store.listRuns();
    if (runs.length === 0) return undefined;
    assert.equal(runs.length, 1, 'one run per episode');
    const statuses = new Map<string, TaskStatus>();
    for (let recovery = 0; recovery <= runs[0].recovery; recovery++) {
      for (const task of (await store.loadRecovery(runs[0].runId, recovery)).tasks) statuses.set(`${task.context.step}/${task.context.sequence}`, task.value);
    }
    return statuses;
  } finally {
    await store.close();
  }
}

test(`SIGKILL at ${KILL_POINTS} random moments never loses a success nor redoes one (seed ${SEED})`, { timeout: 600_000 }, async (t) => {
  const next = random(SEED);
  const root = mkdtempSync(join(tmpdir(), 'eventor-crash-'));
  let killPoints = 0;
  let episodes = 0;
  let killsMidRun = 0;
  let reruns = 0;
  let window = 120;
  try {
    while (killPoints < KILL_POINTS) {
      // One episode: a new run, killed and recovered until a process finishes it.
      const store = join(root, `store-${episodes}`);
      const log = join(root, `log-${episodes}`);
      writeFileSync(log, '');
      episodes++;
      const recordedAtKill: Map<string, TaskStatus>[] = [];
      const processes: Outcome[] = [];
      assert.ok(episodes <= 200, `only ${killPoints} kills landed in 200 runs: the flow ends before the kill window (${window} ms) closes`);
      let mode: 'restart' | 'recover' = 'restart';
      let finished = false;
      for (;;) {
        // Once the kills are all in, or the work is all done, the last recovery of the episode runs to its end.
        const outcome = await runChild(mode, store, log, killPoints < KILL_POINTS && !finished ? Math.floor(next() * window) : undefined);
        processes.push(outcome);
        // The kill window follows how long a whole run takes here, so that a slow machine still gets its kills in.
        if (!outcome.killed && mode === 'restart') window = Math.max(20, Math.floor(outcome.ran * 0.9));
        if (!outcome.killed) break;
        killPoints++;
        const recorded = await recordedStatuses(store);
        // Killed before its run was on record: nothing ran, and there is nothing to recover.
        mode = recorded ? 'recover' : 'restart';
        recordedAtKill.push(recorded ?? new Map());
        if (recorded && [...recorded.values()].some((status) => status !== 'success')) killsMidRun++;
        // A kill that found every task done came after the work: the recovery that follows runs to its end, and the next episode starts.
        finished = recorded !== undefined && recorded.size === TASKS && [...recorded.values()].every((status) => status === 'success');
      }
      const context = `seed ${SEED}, episode ${episodes}`;
      assert.equal(processes.at(-1)?.code, 0, `the last run succeeds (${context})`);

      const executions = readFileSync(log, 'utf8').trim().split('\n').map((line) => line.split(' '));
      const finalStatuses = (await recordedStatuses(store)) ?? new Map();
      assert.equal(finalStatuses.size, TASKS, `every task is on record (${context})`);
      for (const [task, status] of finalStatuses) assert.equal(status, 'success', `${task} is on record as success (${context})`);

      // Where each task ran, by process; then the two promises of recovery, for every execution.
      const ranIn = new Map<string, number[]>();
      for (let k = 0; k < processes.length; k++) {
        const ran = executions.filter(([pid]) => Number(pid) === processes[k].pid).map(([, task]) => task);
        assert.equal(new Set(ran).size, ran.length, `no task runs twice in one process (${context}, process ${k})`);
        for (const task of ran) ranIn.set(task, [...(ranIn.get(task) ?? []), k]);
      }
      for (const [task, inProcesses] of ranIn) {
        for (const k of inProcesses) {
          for (let kill = 0; kill < k; kill++) {
            assert.notEqual(recordedAtKill[kill].get(task), 'success', `${task} was on record as success at kill ${kill}, yet ran again in process ${k} (${context})`);
          }
        }
        reruns += inProcesses.length - 1;
        for (let i = 1; i < inProcesses.length; i++) {
          const previous = inProcesses[i - 1];
          assert.equal(recordedAtKill[previous].get(task), 'active', `${task} ran in processes ${previous} and ${inProcesses[i]}, and only a task active at the kill may run again (${context})`);
        }
      }
      const everRan = new Set(executions.map(([, task]) => task));
      assert.equal(everRan.size, TASKS, `every task ran at least once (${context})`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  t.diagnostic(`${killPoints} kills over ${episodes} runs; ${killsMidRun} left unfinished tasks on record; ${reruns} executions repeated a task that was active at a kill`);
  assert.ok(killPoints >= KILL_POINTS);
  assert.ok(killsMidRun >= KILL_POINTS / 2, 'most kills land while tasks are in flight');
});
