import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { RunConfigInput } from '../model/config.js';
import type { RunRecord, TaskCounts, TaskRecord } from '../model/records.js';
import { sequenceOrder, storeFolders } from '../observe/dashboard-source.js';
import { EventorError, StoreLockedError } from '../model/errors.js';
import { createStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import { redactor, secretsOf } from './nats-flags.js';

/** The stores a command reads: the one given, else every folder under `.eventor/` here. */
function storeLocations(store: string | undefined): string[] {
  if (store) {
    if (!/^nats:\/\//i.test(store) && !existsSync(resolve(store))) throw new EventorError(`store ${store} does not exist: give the folder a flow keeps its runs in (by default .eventor/<flow name>)`);
    return [store];
  }
  return storeFolders(process.cwd());
}

async function withStore<T>(location: string, use: (store: Store) => Promise<T>): Promise<T> {
  const store = createStore(location);
  await store.open();
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

const pad = (rows: string[][]): string => {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ').trimEnd()).join('\n');
};

/** A time in UTC, to the second (or the millisecond). */
const time = (ms: number | undefined, exact = false) => (ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, (fraction) => (exact ? fraction : 'Z')));

/** A duration in ms as 850ms, 12.3s, 4m05s, 2h03m. */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

const counts = (run: RunRecord) => countsText(run.counts);

const countsText = (byStatus: TaskCounts) =>
  Object.entries(byStatus)
    .filter(([, count]) => count)
    .map(([status, count]) => `${status}=${count}`)
    .join(' ') || '-';

/** Tasks by status, as a record. */
const countsOf = (tasks: readonly TaskRecord[]): TaskCounts => {
  const byStatus: TaskCounts = {};
  for (const task of tasks) byStatus[task.value] = (byStatus[task.value] ?? 0) + 1;
  return byStatus;
};

/** What these commands take from a configuration file (--config, else EVENTOR_CONFIG): its store, and the secrets to keep out of what they print. */
async function fromConfigFile(options: StoreOptions): Promise<{ store?: string; redact: (text: string) => string }> {
  const { config, store } = await readConfigFile(options.config);
  return { store: options.store ?? store, redact: redactor(secretsOf(config)) };
}

/** The configuration file a command is given (`--config`, else EVENTOR_CONFIG), if any: its settings and its store. */
export async function readConfigFile(given: string | undefined): Promise<{ config?: RunConfigInput; store?: string }> {
  const path = given ?? process.env.EVENTOR_CONFIG;
  if (!path) return {};
  const { loadConfigFile } = await import('../dialects/config-file.js');
  return loadConfigFile(path);
}

/** The options runs, show and gc share. */
export interface StoreOptions {
  store?: string;
  config?: string;
}

/** Uses a store unless a run holds it now (LevelDB allows one process at a time): then says so on stderr, and gives undefined. */
async function whileFree<T>(location: string, use: (store: Store) => Promise<T>): Promise<T | undefined> {
  try {
    return await withStore(location, use);
  } catch (error) {
    if (!(error instanceof StoreLockedError)) throw error;
    process.stderr.write(`eventor: skipped ${location}: a run is using it now; try again once it has ended\n`);
    return undefined;
  }
}

/** `eventor runs`: one line per run of every store, oldest first. */
export async function runsCommand(options: StoreOptions & { json?: boolean }): Promise<void> {
  const { store, redact } = await fromConfigFile(options);
  const write = (text: string) => process.stdout.write(redact(text));
  const locations = storeLocations(store);
  const runs: (RunRecord & { store: string })[] = [];
  for (const location of locations) {
    const listed = await whileFree(location, (store) => store.listRuns());
    for (const run of listed ?? []) runs.push({ ...run, store: location });
  }
  runs.sort((a, b) => a.startedAt - b.startedAt || a.runId.localeCompare(b.runId));
  if (options.json) {
    for (const run of runs) write(`${JSON.stringify({ runId: run.runId, flow: run.name, store: run.store, startedAt: new Date(run.startedAt).toISOString(), durationMs: run.updatedAt - run.startedAt, recoveries: run.recovery, status: run.status, tasks: run.counts })}\n`);
    return;
  }
  if (runs.length === 0) {
    process.stdout.write(locations.length === 0 ? `no stores${store ? '' : ' under .eventor/ here'}: give --store PATH\n` : 'no runs\n');
    return;
  }
  const rows = [['RUN ID', 'FLOW', 'STARTED', 'DURATION', 'RECOVERIES', 'STATUS', 'TASKS']];
  for (const run of runs) rows.push([run.runId, run.name, time(run.startedAt), duration(run.updatedAt - run.startedAt), String(run.recovery), run.status, counts(run)]);
  write(`${pad(rows)}\n`);
}

/** The store that holds a run, and its record. */
async function findRun(runId: string, store: string | undefined): Promise<{ location: string; run: RunRecord }> {
  for (const location of storeLocations(store)) {
    const run = await withStore(location, (opened) => opened.getRun(runId));
    if (run) return { location, run };
  }
  throw new EventorError(`run ${runId} is in no store ${store ? `at ${store}` : 'under .eventor/ here'}: eventor runs${store ? ` --store ${store}` : ''} lists the runs`);
}


/** A store's location as a user would type it here: a folder under the working directory, relative to it. */
const shownLocation = (location: string) => (location.startsWith(`${process.cwd()}/`) ? location.slice(process.cwd().length + 1) : location);

/** Tasks by status, as `success=4 failure=1`. */
const tally = (tasks: readonly TaskRecord[]) => {
  const byStatus = new Map<string, number>();
  for (const task of tasks) byStatus.set(task.value, (byStatus.get(task.value) ?? 0) + 1);
  return [...byStatus].map(([status, count]) => `${status}=${count}`).join(' ') || 'none';
};

/** Reads every recovery of a run: its tasks, and the record of each task in the recovery that ran it. */
async function readRecoveries(store: Store, run: RunRecord): Promise<TaskRecord[][]> {
  const recoveries: TaskRecord[][] = [];
  for (let recovery = 0; recovery <= run.recovery; recovery += 1) {
    const found: TaskRecord[] = [];
    for await (const task of store.eachTask(run.runId, recovery)) found.push(task);
    recoveries.push(found);
  }
  return recoveries;
}

/** A task's row: for an outcome a recovery kept, the tries, start and host of the recovery that ran it. */
function ranIn(task: TaskRecord, recoveries: readonly TaskRecord[][]): TaskRecord {
  let shown = task;
  for (let hops = 0; shown.context.skippedFrom !== undefined && hops <= recoveries.length; hops += 1) {
    const earlier = recoveries[shown.context.skippedFrom]?.find((other) => other.context.step === task.context.step && String(other.context.sequence) === String(task.context.sequence));
    if (!earlier || earlier === shown) break;
    shown = earlier;
  }
  return shown;
}

/** Ms from a task's latest start to its final record; unknown while it runs or when it never started. */
const taskDuration = (task: TaskRecord) => (task.context.startedAt !== undefined && task.status === 'done' ? task.at - task.context.startedAt : undefined);

/**
 * `eventor show RUN_ID`: the run, what each recovery did, then its tasks by step and sequence as
 * of its latest recovery, with tries, start, duration, host and error. Secrets are never shown.
 */
export async function showCommand(runId: string, options: StoreOptions & { json?: boolean }): Promise<void> {
  const { store, redact } = await fromConfigFile(options);
  const { location, run } = await findRun(runId, store);
  const recoveries = await withStore(location, (store) => readRecoveries(store, run));
  const tasks = [...(recoveries[run.recovery] ?? [])];
  const order = new Map(run.steps.map((step, index) => [step, index]));
  tasks.sort((a, b) => (order.get(a.context.step) ?? 1e9) - (order.get(b.context.step) ?? 1e9) || a.context.step.localeCompare(b.context.step) || sequenceOrder(String(a.context.sequence), String(b.context.sequence)));
  const errorText = (task: TaskRecord) => (task.context.error ? `${task.context.error.name ?? 'Error'}: ${task.context.error.message ?? ''}`.replace(/\s+/g, ' ') : '');
  const print = (text: string) => process.stdout.write(`${redact(text)}\n`);
  if (options.json) {
    print(
      JSON.stringify({
        runId: run.runId,
        flow: run.name,
        store: location,
        startedAt: new Date(run.startedAt).toISOString(),
        updatedAt: new Date(run.updatedAt).toISOString(),
        recoveries: run.recovery,
        status: run.status,
        tasks: run.counts,
        byRecovery: recoveries.map((found, recovery) => ({ recovery, parent: run.parents[recovery] ?? null, ran: countsOf(found.filter((task) => task.context.skippedFrom === undefined)), kept: found.filter((task) => task.context.skippedFrom !== undefined).length })),
      }),
    );
    for (const task of tasks) {
      const ran = ranIn(task, recoveries);
      print(JSON.stringify({ step: task.context.step, sequence: task.context.sequence, status: task.value, tries: ran.context.attempts, startedAt: ran.context.startedAt === undefined ? null : new Date(ran.context.startedAt).toISOString(), durationMs: taskDuration(ran) ?? null, host: ran.context.host ?? null, keptFrom: task.context.skippedFrom ?? null, error: task.context.error ? { name: task.context.error.name, message: task.context.error.message } : null }));
    }
    return;
  }
  const lines = [
    `run        ${run.runId}`,
    `flow       ${run.name}`,
    `store      ${shownLocation(location)}`,
    `started    ${time(run.startedAt)}`,
    `updated    ${time(run.updatedAt)} (${duration(run.updatedAt - run.startedAt)} after the start)`,
    `status     ${run.status}`,
    `tasks      ${counts(run)}`,
    `recoveries ${run.recovery}`,
  ];
  recoveries.forEach((found, recovery) => {
    const kept = found.filter((task) => task.context.skippedFrom !== undefined).length;
    const parent = run.parents[recovery];
    lines.push(`  ${recovery === 0 ? 'first run' : `recovery ${recovery}`}${parent !== undefined && parent >= 0 ? ` (of ${parent === 0 ? 'the first run' : `recovery ${parent}`})` : ''}: ran ${tally(found.filter((task) => task.context.skippedFrom === undefined))}${kept ? `, kept ${kept}` : ''}`);
  });
  lines.push('');
  if (tasks.length === 0) lines.push('no tasks');
  else {
    const rows = [['STEP', 'SEQUENCE', 'STATUS', 'TRIES', 'STARTED', 'DURATION', 'HOST', 'ERROR']];
    for (const task of tasks) {
      const ran = ranIn(task, recoveries);
      const status = task.context.skippedFrom !== undefined ? `${task.value} (kept from ${task.context.skippedFrom === 0 ? 'the first run' : `recovery ${task.context.skippedFrom}`})` : task.value;
      const error = errorText(task);
      rows.push([task.context.step, String(task.context.sequence), status, String(ran.context.attempts ?? 0), ran.context.startedAt === undefined ? '-' : time(ran.context.startedAt, true), duration(taskDuration(ran)), ran.context.host ?? '-', error.length > 120 ? `${error.slice(0, 119)}…` : error]);
    }
    lines.push(pad(rows));
  }
  print(lines.join('\n'));
}

/** `eventor gc --days N`: deletes the runs started more than N days ago. */
export async function gcCommand(options: StoreOptions & { days: number; dryRun?: boolean }): Promise<void> {
  const { store } = await fromConfigFile(options);
  const cutoff = Date.now() - options.days * 86_400_000;
  let deleted = 0;
  let kept = 0;
  for (const location of storeLocations(store)) {
    await whileFree(location, async (store) => {
      for (const run of await store.listRuns()) {
        if (run.startedAt >= cutoff || run.status === 'running') {
          kept += 1;
          continue;
        }
        if (!options.dryRun) await store.deleteRun(run.runId);
        deleted += 1;
        process.stdout.write(`${options.dryRun ? 'would delete' : 'deleted'} ${run.runId} (${run.name}, started ${time(run.startedAt)}, ${run.status})\n`);
      }
    });
  }
  process.stdout.write(`${options.dryRun ? 'would delete' : 'deleted'} ${deleted} run${deleted === 1 ? '' : 's'} started more than ${options.days} day${options.days === 1 ? '' : 's'} ago; kept ${kept}\n`);
}
