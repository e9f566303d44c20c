import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsStoreSettings } from '../store/nats-store.js';
import { StoreLockedError } from '../model/errors.js';
import type { RunRecord, RunStatus, TaskCounts, TaskRecord, TransitionRecord } from '../model/records.js';
import type { TaskStatus } from '../model/status.js';
import { createStore } from '../store/open-store.js';
import type { Store } from '../store/store.js';
import type { Graph } from './mermaid.js';

/** A run as the dashboard lists it. */
export interface DashboardRun {
  runId: string;
  flow: string;
  store: string;
  startedAt: number;
  updatedAt: number;
  /** The latest recovery: 0 for the first run. */
  recoveries: number;
  status: RunStatus;
  counts: TaskCounts;
  /** Whether the run is going on in this process: its transitions come through the event stream. */
  live: boolean;
}

/** One task's row: the try that decided it (for an outcome a recovery kept, the try of the recovery that ran it). */
export interface DashboardTask {
  step: string;
  sequence: string;
  status: TaskStatus;
  tries: number;
  host: string | null;
  startedAt: number | null;
  durationMs: number | null;
  keptFrom: number | null;
  error: { name: string; message: string } | null;
}

/** What one recovery of a run did. */
export interface DashboardRecovery {
  recovery: number;
  parent: number | null;
  ran: TaskCounts;
  kept: number;
}

/** A flow's graph whose step nodes name the step their tasks carry. */
export type DashboardGraph = Omit<Graph, 'nodes'> & { nodes: (Graph['nodes'][number] & { step?: string })[] };

/** One run in full, but its tasks: those come a page at a time. */
export interface DashboardRunDetail {
  run: DashboardRun;
  /** The flow's graph: events and steps, with their arrows when the flow is known; only the steps for a run read back from a store. Each step node names the step its tasks carry. */
  graph: DashboardGraph;
  /** Per step, its tasks by status. */
  steps: Record<string, TaskCounts>;
  recoveries: DashboardRecovery[];
}

/** Where the dashboard reads runs from: the stores on disk, or a run going on in this process. */
export interface DashboardSource {
  runs(): Promise<{ runs: DashboardRun[]; notes: string[] }>;
  run(runId: string): Promise<DashboardRunDetail | undefined>;
  /** The tasks of the run's latest recovery, by step (in the flow's order) and sequence. */
  tasks(runId: string): Promise<DashboardTask[] | undefined>;
  /** The run's JSON-lines log file, if there is one. */
  logFile(runId: string): Promise<string | undefined>;
  /** Live sources only: every task transition as it happens, and the run's end. */
  subscribe?(listener: (event: DashboardEvent) => void): () => void;
}

/** What the event stream sends: a task transition, or the run's end with its status. */
export type DashboardEvent = { type: 'transition'; transition: TransitionRecord } | { type: 'run'; runId: string; status: RunStatus };

/** The graph with each step node naming its step: `step:NAME` in an Eventor's graph, the path in a Sequent's. */
export function withStepNames(graph: Graph): DashboardRunDetail['graph'] {
  return { ...graph, nodes: graph.nodes.map((node) => (node.shape === 'step' ? { ...node, step: node.id.startsWith('step:') ? node.id.slice(5) : node.id } : node)) };
}

/** Sequences in their natural order: `2` before `10`, `1.2` before `1.10`. */
export function sequenceOrder(a: string, b: string): number {
  const left = a.split('.');
  const right = b.split('.');
  for (let index = 0; index < Math.max(left.length, right.length); index += 1) {
    const [x, y] = [left[index] ?? '', right[index] ?? ''];
    const order = /^\d+$/.test(x) && /^\d+$/.test(y) ? Number(x) - Number(y) : x.localeCompare(y);
    if (order !== 0) return order;
  }
  return 0;
}

const sortTasks = (tasks: DashboardTask[], steps: readonly string[]) => {
  const order = new Map(steps.map((step, index) => [step, index]));
  return tasks.sort((a, b) => (order.get(a.step) ?? 1e9) - (order.get(b.step) ?? 1e9) || a.step.localeCompare(b.step) || sequenceOrder(a.sequence, b.sequence));
};

const byStep = (tasks: readonly DashboardTask[]) => {
  const steps: Record<string, TaskCounts> = {};
  for (const task of tasks) {
    const counts = (steps[task.step] ??= {});
    counts[task.status] = (counts[task.status] ?? 0) + 1;
  }
  return steps;
};

/** A graph of only the steps, for a run whose flow is not at hand. */
const stepsGraph = (steps: readonly string[]): Graph => ({ nodes: steps.map((step) => ({ id: `step:${step}`, label: step, shape: 'step' })), edges: [], groups: [] });

const errorOf = (error: { name?: string; message?: string } | undefined) => (error ? { name: error.name ?? 'Error', message: error.message ?? '' } : null);

/** Reads every recovery of a run, oldest first. */
async function readRecoveries(store: Store, run: RunRecord): Promise<TaskRecord[][]> {
  const recoveries: TaskRecord[][] = [];
  for (let recovery = 0; recovery <= run.recovery; recovery += 1) {
    const found: TaskRecord[] = [];
    for await (const task of store.eachTask(run.runId, recovery)) found.push(task);
    recoveries.push(found);
  }
  return recoveries;
}

/** A task's row from its record, with the tries, start and host of the recovery that ran it. */
function taskRow(task: TaskRecord, recoveries: readonly Map<string, TaskRecord>[]): DashboardTask {
  const key = `${task.context.step}\u0000${task.context.sequence}`;
  let ran = task;
  for (let hops = 0; ran.context.skippedFrom !== undefined && hops <= recoveries.length; hops += 1) {
    const earlier = recoveries[ran.context.skippedFrom]?.get(key);
    if (!earlier || earlier === ran) break;
    ran = earlier;
  }
  return {
    step: task.context.step,
    sequence: String(task.context.sequence),
    status: task.value,
    tries: ran.context.attempts,
    host: ran.context.host ?? null,
    startedAt: ran.context.startedAt ?? null,
    durationMs: ran.context.startedAt !== undefined && ran.status === 'done' ? ran.at - ran.context.startedAt : null,
    keptFrom: task.context.skippedFrom ?? null,
    error: errorOf(task.context.error),
  };
}

const summary = (run: RunRecord, store: string, live = false): DashboardRun => ({ runId: run.runId, flow: run.name, store, startedAt: run.startedAt, updatedAt: run.updatedAt, recoveries: run.recovery, status: run.status, counts: run.counts, live });

/** The LevelDB store folders under `.eventor/` of a folder, as flows without a store keep them. */
export function storeFolders(cwd: string): string[] {
  const root = join(cwd, '.eventor');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => join(root, name))
    .filter((path) => statSync(path).isDirectory() && existsSync(join(path, 'CURRENT')))
    .sort();
}

/**
 * The runs kept in stores: the one given, else every LevelDB folder under `.eventor/` here. A
 * store is opened for each request and closed after it, so that the dashboard never keeps a run
 * from starting; a store a run holds now is skipped with a note (LevelDB allows one process).
 */
export class StoreSource implements DashboardSource {
  private readonly cache = new Map<string, { updatedAt: number; detail: DashboardRunDetail; tasks: DashboardTask[] }>();

  constructor(
    private readonly options: { store?: string; logdir: string; cwd?: string; nats?: NatsStoreSettings; /** Flows' graphs by flow name, to draw their runs' arrows too. */ graphs?: ReadonlyMap<string, Graph> },
  ) {}

  private locations(): string[] {
    return this.options.store ? [this.options.store] : storeFolders(this.options.cwd ?? process.cwd());
  }

  private async withStore<T>(location: string, use: (store: Store) => Promise<T>): Promise<T> {
    // A NATS bucket is read without its lock, so that a run on it shows while it goes on.
    const store = createStore(location, { nats: this.options.nats, readOnly: true });
    await store.open();
    try {
      return await use(store);
    } finally {
      await store.close();
    }
  }

  async runs(): Promise<{ runs: DashboardRun[]; notes: string[] }> {
    const runs: DashboardRun[] = [];
    const notes: string[] = [];
    const locations = this.locations();
    if (locations.length === 0) notes.push('no stores under .eventor/ here: give --store PATH');
    for (const location of locations) {
      try {
        for (const run of await this.withStore(location, (store) => store.listRuns())) runs.push(summary(run, location));
      } catch (error) {
        if (!(error instanceof StoreLockedError)) throw error;
        notes.push(`${location}: a run is using this store now; its runs show here once it has ended (eventor run FLOW --dashboard follows a run live)`);
      }
    }
    runs.sort((a, b) => b.startedAt - a.startedAt || b.runId.localeCompare(a.runId));
    return { runs, notes };
  }

  private async load(runId: string) {
    for (const location of this.locations()) {
      let found: { updatedAt: number; detail: DashboardRunDetail; tasks: DashboardTask[] } | undefined;
      try {
        found = await this.withStore(location, async (store) => {
          const run = await store.getRun(runId);
          if (!run) return undefined;
          const cached = this.cache.get(runId);
          // A run going on (on a NATS bucket) writes its tasks without touching its run record: read it anew each time.
          if (cached && cached.updatedAt === run.updatedAt && run.status !== 'running') return cached;
          const recoveries = await readRecoveries(store, run);
          const byKey = recoveries.map((tasks) => new Map(tasks.map((task) => [`${task.context.step}\u0000${task.context.sequence}`, task])));
          const latest = recoveries[run.recovery] ?? [];
          const tasks = sortTasks(latest.map((task) => taskRow(task, byKey)), run.steps);
          const detail: DashboardRunDetail = {
            run: summary(run, location),
            graph: withStepNames(this.options.graphs?.get(run.name) ?? stepsGraph(run.steps)),
            steps: byStep(tasks),
            recoveries: recoveries.map((found, recovery) => ({
              recovery,
              parent: run.parents[recovery] ?? null,
              ran: byStep(found.filter((task) => task.context.skippedFrom === undefined).map((task) => ({ step: 'all', status: task.value }) as DashboardTask)).all ?? {},
              kept: found.filter((task) => task.context.skippedFrom !== undefined).length,
            })),
          };
          return { updatedAt: run.updatedAt, detail, tasks };
        });
      } catch (error) {
        if (!(error instanceof StoreLockedError)) throw error;
      }
      if (found) {
        this.cache.clear();
        this.cache.set(runId, found);
        return found;
      }
    }
    return undefined;
  }

  async run(runId: string): Promise<DashboardRunDetail | undefined> {
    return (await this.load(runId))?.detail;
  }

  async tasks(runId: string): Promise<DashboardTask[] | undefined> {
    return (await this.load(runId))?.tasks;
  }

  async logFile(runId: string): Promise<string | undefined> {
    const found = await this.load(runId);
    return found ? join(this.options.logdir, `${found.detail.run.flow}-${runId}.jsonl`) : undefined;
  }
}

/** A task as a live run has reported it so far. */
interface LiveTask extends DashboardTask {
  at: number;
}

/**
 * A run going on in this process, followed through its `subscribe()` transitions: each one
 * updates the task's row and goes out to the dashboard's event stream at once.
 */
export class LiveRunSource implements DashboardSource {
  private readonly tasksByKey = new Map<string, LiveTask>();
  private readonly listeners = new Set<(event: DashboardEvent) => void>();
  private status: RunStatus = 'running';
  private readonly startedAt = Date.now();
  private updatedAt = Date.now();

  constructor(
    private readonly flow: { name: string; runId: () => string; graph: Graph; store: string; logdir: string },
  ) {
    this.graph = withStepNames(flow.graph);
  }

  private readonly graph: DashboardRunDetail['graph'];

  /** Takes one transition, as `subscribe()` reports it. */
  update(transition: TransitionRecord): void {
    const key = `${transition.step}\u0000${transition.sequence}`;
    let task = this.tasksByKey.get(key);
    if (!task) {
      task = { step: transition.step, sequence: String(transition.sequence), status: transition.status, tries: 0, host: null, startedAt: null, durationMs: null, keptFrom: null, error: null, at: transition.at };
      this.tasksByKey.set(key, task);
    }
    task.status = transition.status;
    task.at = transition.at;
    if (transition.host) task.host = transition.host;
    if (transition.status === 'active') {
      task.tries += 1;
      task.startedAt = transition.at;
      task.durationMs = null;
      task.error = null;
    }
    if ((transition.status === 'success' || transition.status === 'failure') && task.startedAt !== null) task.durationMs = transition.at - task.startedAt;
    if (transition.error) task.error = errorOf(transition.error);
    this.updatedAt = transition.at;
    for (const listener of this.listeners) listener({ type: 'transition', transition });
  }

  /** Records how the run ended, and tells the page. */
  finish(status: RunStatus): void {
    this.status = status;
    this.updatedAt = Date.now();
    for (const listener of this.listeners) listener({ type: 'run', runId: this.flow.runId(), status });
  }

  private summary(): DashboardRun {
    const counts: TaskCounts = {};
    for (const task of this.tasksByKey.values()) counts[task.status] = (counts[task.status] ?? 0) + 1;
    return { runId: this.flow.runId(), flow: this.flow.name, store: this.flow.store, startedAt: this.startedAt, updatedAt: this.updatedAt, recoveries: 0, status: this.status, counts, live: this.status === 'running' };
  }

  private steps(): string[] {
    return this.graph.nodes.flatMap((node) => (node.step === undefined ? [] : [node.step]));
  }

  async runs(): Promise<{ runs: DashboardRun[]; notes: string[] }> {
    return { runs: [this.summary()], notes: [] };
  }

  async run(runId: string): Promise<DashboardRunDetail | undefined> {
    if (runId !== this.flow.runId()) return undefined;
    const tasks = [...this.tasksByKey.values()];
    const ran: TaskCounts = {};
    for (const task of tasks) ran[task.status] = (ran[task.status] ?? 0) + 1;
    return { run: this.summary(), graph: this.graph, steps: byStep(tasks), recoveries: [{ recovery: 0, parent: null, ran, kept: 0 }] };
  }

  async tasks(runId: string): Promise<DashboardTask[] | undefined> {
    if (runId !== this.flow.runId()) return undefined;
    return sortTasks([...this.tasksByKey.values()].map(({ at: _at, ...task }) => task), this.steps());
  }

  async logFile(runId: string): Promise<string | undefined> {
    return runId === this.flow.runId() ? join(this.flow.logdir, `${this.flow.name}-${runId}.jsonl`) : undefined;
  }

  subscribe(listener: (event: DashboardEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
