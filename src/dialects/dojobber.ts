import { createActor, type SnapshotFrom } from 'xstate';
import { FlowRuntime, checkRuntimeOptions } from '../actors/runtime.js';
import type { TransitionListener } from '../actors/supervisor.js';
import { jobMachine, type JobContext, type JobEvent, type JobKind } from '../machines/job.machine.js';
import { resolveRunConfig, type RunConfigInput } from '../model/config.js';
import { describe, EventorError, OptionError, toErrorRecord, ValidationError, type ErrorRecord } from '../model/errors.js';
import { assertEncodable } from '../model/pack.js';
import type { TransitionRecord } from '../model/records.js';
import type { AssocSpec, EventSpec, FlowSpec, StepSpec } from '../model/spec.js';
import { RunMode, StepReplay, type TaskStatus } from '../model/status.js';
import { mermaidId, renderMermaid, type Graph } from '../observe/mermaid.js';
import type { EventorOptions } from './eventor.js';

export * from './job.js';
import { constructJob, Job, JobCycleError, JobDefinitionError, JobFailedError, RunonlyJob, type JobClass } from './job.js';

/** How a DoJobber is made: a flow's runtime options (store, runMode, runId, config, ...), and where verbose lines go. */
export interface DoJobberOptions extends EventorOptions {
  /** Where verbose and debug lines go (default process.stderr). */
  output?: { write(text: string): unknown };
}

/** How `configure()` runs the graph, as the seed's keywords say. */
export interface ConfigureOptions {
  /** Only checks run; a job whose check fails fails, and no try is repeated. */
  noAct?: boolean;
  /** A line per check, run and recheck on the output, with recheck failures' messages. */
  verbose?: boolean;
  /** Verbose, and the stack of every failure. */
  debug?: boolean;
  /** Run the cleanup() of jobs whose run ran at the end of checknrun (default true). */
  cleanup?: boolean;
  /** Tries of jobs that set none (default 3). */
  defaultTries?: number;
  /** Seconds between tries of jobs that set none (default 1). */
  defaultRetryDelay?: number;
}

/** One job of the configured graph. */
interface JobNode {
  name: string;
  job: JobClass;
  kind: JobKind;
  deps: string[];
  tries: number;
  retryDelayMs: number;
}

type JobSnapshot = SnapshotFrom<typeof jobMachine>;

/** What the latest try of a job came to, in this checknrun. */
interface Outcome {
  passed: boolean;
  /** The job machine's context: from this process's try, or from the stored snapshot a recovery replayed. */
  context?: JobContext;
  result?: unknown;
  error?: unknown;
}

/** A node of `toGraph()`: a job, with its outcome and the colour that shows it. */
export interface JobGraphNode {
  id: string;
  label: string;
  shape: 'step';
  /** passed: its first check passed; ran: passed after a run; failed; unreached: a dep failed; pending: not checked yet. */
  outcome: 'passed' | 'ran' | 'failed' | 'unreached' | 'pending';
  /** A fill colour for DOT or SVG (the seed's: green, darkgreen, red). */
  fill?: string;
}

/** The job graph, as `toGraph()` returns it: a Graph whose nodes carry their outcome. */
export interface JobGraph extends Graph {
  nodes: JobGraphNode[];
}

const FILLS: Record<JobGraphNode['outcome'], string | undefined> = { passed: 'green', ran: 'darkgreen', failed: 'red', unreached: undefined, pending: undefined };
const MERMAID_CLASSES: Record<JobGraphNode['outcome'], string> = {
  passed: 'fill:#4caf50,color:#fff',
  ran: 'fill:#1b5e20,color:#fff',
  failed: 'fill:#e53935,color:#fff',
  unreached: 'fill:#eeeeee,stroke-dasharray:4',
  pending: 'fill:#ffffff',
};

const START = ':start';
const passedEvent = (job: string) => `${job}:passed`;
const readyEvent = (job: string) => `${job}:ready`;

const isJobClass = (value: unknown): value is JobClass => typeof value === 'function' && (value === Job || value.prototype instanceof Job);

/** A value as the store can keep it: itself if it encodes, else a description. */
function storable(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    assertEncodable(value);
    return value;
  } catch {
    return { unstorable: describe(value) };
  }
}

/** An Error again from the plain record of one, for a failure a recovery read from the store. */
function errorFrom(record: ErrorRecord | undefined): Error | undefined {
  if (!record) return undefined;
  const error = new Error(record.message);
  error.name = record.name;
  if (record.stack) error.stack = record.stack;
  return error;
}

/**
 * Idempotent jobs as DoJobber runs them: from a root job, every job its deps reach is checked
 * (deps first), run where its check fails, and rechecked. Failed jobs are tried again in rounds,
 * after every other job that could make progress had its turn and never sooner than their retry
 * delay. The graph compiles to a FlowSpec (a step per job, an event per job that passed) and
 * each round is a run of the flow runtime: the first a new run, each later one a recovery of it
 * in which jobs that passed are skipped. A job's try is a job machine; its final snapshot is the
 * job step's result in the store.
 * @example
 * const dojob = new DoJobber({ store: '.eventor/movie-night' });
 * dojob.configure(WatchMovie, { verbose: true, defaultRetryDelay: 0 });
 * dojob.setArgs({ movie: 'Noises Off' });
 * await dojob.checknrun();
 * console.log(dojob.success(), dojob.nodestatus());
 */
export class DoJobber {
  readonly name: string;
  private readonly options: DoJobberOptions;
  private settings: Required<ConfigureOptions> | undefined;
  private nodes = new Map<string, JobNode>();
  private args: unknown[] = [];
  private readonly listeners = new Set<TransitionListener>();
  private runtime: FlowRuntime | undefined;
  private lastRunId: string | undefined;
  private running = false;
  private cancelled = false;
  private closed = false;
  private globalStorage: Record<string, unknown> = {};
  private readonly outcomes = new Map<string, Outcome>();
  private readonly exceptions = new Map<string, unknown>();
  private readonly triesUsed = new Map<string, number>();
  /** This round's recovery map of each job, by its outcome so far. */
  private readonly replays = new Map<string, Partial<Record<TaskStatus, StepReplay>>>();
  /** Jobs tried in this process in the current round (the others' outcomes are a recovery's replays). */
  private readonly triedThisRound = new Set<string>();
  /** Instances whose run ran, in order, for cleanup (LIFO). */
  private ranInstances: { name: string; instance: Job }[] = [];
  /** Ends the wait between two rounds. */
  private wake: (() => void) | undefined;

  constructor(options: DoJobberOptions = {}) {
    if (options === null || typeof options !== 'object') throw new OptionError('options', options, 'an object, { name, store, config, ... }', 'new DoJobber');
    checkRuntimeOptions(options, 'new DoJobber');
    if (options.output !== undefined && typeof options.output?.write !== 'function') throw new OptionError('output', options.output, 'a stream, or anything with write(text)', 'new DoJobber');
    this.options = options;
    this.name = options.name ?? 'dojobber';
  }

  /**
   * Builds the graph of `root` and every job its deps reach, with the seed's settings. A cycle
   * in deps, tries below 1 or a negative retry delay is a ValidationError naming the jobs.
   */
  configure(root: JobClass, options: ConfigureOptions = {}): void {
    if (this.running) throw new EventorError(`DoJobber '${this.name}' is running: configure it before checknrun()`);
    if (!isJobClass(root)) throw new ValidationError(`configure() got ${describe(root)} as the root job: give a class that extends Job, DummyJob or RunonlyJob`);
    if (options === null || typeof options !== 'object') throw new OptionError('options', options, 'an object, { noAct, verbose, debug, cleanup, defaultTries, defaultRetryDelay }', 'configure()');
    const settings: Required<ConfigureOptions> = {
      noAct: options.noAct ?? false,
      verbose: (options.verbose ?? false) || (options.debug ?? false),
      debug: options.debug ?? false,
      cleanup: options.cleanup ?? true,
      defaultTries: options.defaultTries ?? 3,
      defaultRetryDelay: options.defaultRetryDelay ?? 1,
    };
    if (!Number.isInteger(settings.defaultTries) || settings.defaultTries < 1) throw new OptionError('defaultTries', settings.defaultTries, 'a whole number of tries, 1 or more', 'configure()');
    if (typeof settings.defaultRetryDelay !== 'number' || !(settings.defaultRetryDelay >= 0) || !Number.isFinite(settings.defaultRetryDelay)) {
      throw new OptionError('defaultRetryDelay', settings.defaultRetryDelay, 'a number of seconds, 0 or more', 'configure()');
    }
    this.nodes = collectJobs(root, settings);
    this.settings = settings;
  }

  /** The arguments every check and run is called with (the last may be an object of named options). */
  setArgs(...args: unknown[]): void {
    this.args = args;
  }

  /** The id of the run the latest checknrun made or recovered. */
  get runId(): string {
    return this.runtime?.runId ?? this.lastRunId ?? this.options.runId ?? '';
  }

  /** Calls `listener` on every task transition of every round. */
  subscribe(listener: TransitionListener): () => void {
    if (typeof listener !== 'function') throw new ValidationError(`subscribe() got ${describe(listener)}: give it a function, called with each task transition`);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Checks and runs the graph: a first round visits every job (deps first), each later round
   * retries the jobs that failed and have tries left (once their retry delay has passed), and the
   * jobs they unblock. Then, unless `cleanup: false`, the cleanups of the jobs whose run ran.
   */
  async checknrun(): Promise<void> {
    const settings = this.assertConfigured();
    if (this.closed) throw new EventorError(`DoJobber '${this.name}' is closed: make a new one to run again`);
    if (this.running) throw new EventorError(`DoJobber '${this.name}' is already running`);
    this.running = true;
    this.cancelled = false;
    this.globalStorage = {};
    for (const map of [this.outcomes, this.exceptions, this.triesUsed, this.replays]) map.clear();
    this.ranInstances = [];
    try {
      let mode = this.options.runMode ?? RunMode.restart;
      let runId = this.options.runId;
      for (let round = 0; ; round++) {
        await this.runRound(mode, runId, round);
        runId = this.lastRunId;
        if (settings.noAct || this.cancelled) break;
        const retrying = [...this.outcomes].filter(([, outcome]) => !outcome.passed && outcome.context?.retryAt !== undefined);
        if (retrying.length === 0) break;
        // The next round starts once the soonest of them is due; those not due yet wait for a later one.
        const due = Math.min(...retrying.map(([, outcome]) => outcome.context?.retryAt as number));
        if (due > Date.now()) await this.pause(due - Date.now());
        if (this.cancelled) break;
        const now = Date.now();
        this.replays.clear();
        for (const [name, outcome] of this.outcomes) {
          if (outcome.passed) continue;
          const again = outcome.context?.retryAt !== undefined && outcome.context.retryAt <= now;
          this.replays.set(name, { failure: again ? StepReplay.rerun : StepReplay.skip });
        }
        mode = RunMode.recover;
      }
    } finally {
      this.running = false;
    }
    if (settings.cleanup) await this.cleanup();
  }

  /** Whether every job passed. */
  success(): boolean {
    const status = Object.values(this.nodestatus());
    return status.length > 0 && status.every((passed) => passed === true);
  }

  /** Whether every job that was checked passed, even if some were never reached (a run cancelled between rounds). */
  partialSuccess(): boolean {
    const status = Object.values(this.nodestatus());
    return status.some((passed) => passed === true) && !status.includes(false);
  }

  /** Per job: true passed, false failed, null never checked (a dep failed); empty before checknrun. */
  nodestatus(): Record<string, boolean | null> {
    if (this.outcomes.size === 0 && !this.running) return {};
    const status: Record<string, boolean | null> = {};
    for (const name of this.nodes.keys()) {
      const outcome = this.outcomes.get(name);
      status[name] = outcome ? outcome.passed : null;
    }
    return status;
  }

  /** Per job that ever failed in this checknrun: the last error it failed with (kept if a later try passed). */
  nodeexceptions(): Record<string, unknown> {
    return Object.fromEntries(this.exceptions);
  }

  /** Per job that passed: what its passing check (a run-only job: its run) returned. */
  noderesults(): Record<string, unknown> {
    const results: Record<string, unknown> = {};
    for (const [name, outcome] of this.outcomes) if (outcome.passed) results[name] = outcome.result;
    return results;
  }

  /**
   * Calls `cleanup()` of every job instance whose run ran, the last one first; each once. A
   * cleanup that throws stops the others and is rethrown, as in the seed.
   */
  async cleanup(): Promise<void> {
    const settings = this.assertConfigured();
    while (this.ranInstances.length > 0) {
      const { name, instance } = this.ranInstances.pop() as { name: string; instance: Job };
      if (typeof instance.cleanup !== 'function') continue;
      if (settings.debug) this.say(`${name}.cleanup running`);
      try {
        await instance.cleanup();
        if (settings.debug) this.say(`${name}.cleanup: pass`);
      } catch (error) {
        this.say(`${name}.cleanup: fail "${toErrorRecord(error).message}"`);
        throw error;
      }
    }
  }

  /** For `eventor run`: checknrun, then whether every job passed. */
  async run(_options: { maxLoops?: number } = {}): Promise<boolean> {
    await this.checknrun();
    return this.success();
  }

  /** Stops the round that is going (running jobs finish) and starts no other. */
  async cancel(reason = 'cancelled by the user'): Promise<void> {
    this.cancelled = true;
    this.wake?.();
    await this.runtime?.cancel(reason);
  }

  /** Ends a round still going and releases the store; the DoJobber cannot run again. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelled = true;
    this.wake?.();
    await this.runtime?.close();
  }

  /** The job graph as plain flow data, exactly as the next round runs it. */
  toSpec(): FlowSpec {
    this.assertConfigured();
    const config = this.runConfig();
    const events: EventSpec[] = [{ name: START }];
    const steps: StepSpec[] = [];
    const assocs: AssocSpec[] = [];
    const leaves: string[] = [];
    for (const node of this.nodes.values()) {
      events.push({ name: passedEvent(node.name) });
      steps.push({
        name: node.name,
        func: () => this.tryJob(node),
        args: [],
        triggers: { success: [passedEvent(node.name)] },
        recovery: this.replays.get(node.name) ?? {},
        config: { executor: 'inline' },
      });
      if (node.deps.length === 0) leaves.push(node.name);
      else if (node.deps.length === 1) assocs.push({ event: passedEvent(node.deps[0]), delay: 0, targets: [{ kind: 'step', name: node.name }] });
      else {
        events.push({ name: readyEvent(node.name), expr: { op: 'and', items: node.deps.map(passedEvent) } });
        assocs.push({ event: readyEvent(node.name), delay: 0, targets: [{ kind: 'step', name: node.name }] });
      }
    }
    if (leaves.length > 0) assocs.unshift({ event: START, delay: 0, targets: leaves.map((name) => ({ kind: 'step' as const, name })) });
    return { name: this.name, events, steps, assocs, triggers: [{ event: START, sequence: '1' }], pools: [], config: resolveRunConfig(config) };
  }

  /** The job graph: an arrow from each dep to the job that needs it, each job with its outcome so far. */
  toGraph(): JobGraph {
    this.assertConfigured();
    const status = this.nodestatus();
    const nodes: JobGraphNode[] = [...this.nodes.values()].map((node) => {
      const outcome = this.outcomes.get(node.name);
      const shown: JobGraphNode['outcome'] = !(node.name in status) ? 'pending' : status[node.name] === null ? 'unreached' : !outcome?.passed ? 'failed' : outcome.context?.ran ? 'ran' : 'passed';
      const tries = this.triesUsed.get(node.name) ?? 0;
      const fill = FILLS[shown];
      return { id: node.name, label: tries > 1 ? `${node.name} (${tries} tries)` : node.name, shape: 'step', outcome: shown, ...(fill ? { fill } : {}) };
    });
    const edges = [...this.nodes.values()].flatMap((node) => node.deps.map((dep) => ({ from: dep, to: node.name })));
    return { nodes, edges, groups: [] };
  }

  /** The job graph as a Mermaid flowchart, each job coloured by its outcome. */
  toMermaid(): string {
    const graph = this.toGraph();
    const lines = [renderMermaid(graph).trimEnd()];
    const used = [...new Set(graph.nodes.map((node) => node.outcome))];
    for (const outcome of used) lines.push(`  classDef ${outcome} ${MERMAID_CLASSES[outcome]}`);
    for (const outcome of used) lines.push(`  class ${graph.nodes.filter((node) => node.outcome === outcome).map((node) => mermaidId(node.id)).join(',')} ${outcome}`);
    return `${lines.join('\n')}\n`;
  }

  /** Waits between rounds; a cancel or close ends the wait at once. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
    });
  }

  private assertConfigured(): Required<ConfigureOptions> {
    if (!this.settings) throw new EventorError(`DoJobber '${this.name}' has no graph: call configure(RootJob) first`);
    return this.settings;
  }

  /** The run settings: one job at a time and no stop on a failure, as the seed; the user's config over them. */
  private runConfig(): RunConfigInput {
    const given = this.options.config ?? {};
    return { maxConcurrent: 1, stopOnException: false, ...given, logging: { console: false, ...given.logging } };
  }

  /** One round: a run of the compiled flow (a new one, or a recovery of the last). */
  private async runRound(mode: RunMode, runId: string | undefined, round: number): Promise<void> {
    const { output: _output, ...options } = this.options;
    const spec = this.toSpec();
    const runtime = new FlowRuntime({ ...options, name: this.name, runMode: mode, runId, config: this.runConfig() });
    if (round === 0 && !runtime.store.durable && !this.settings?.noAct) {
      await runtime.close();
      throw new ValidationError(
        `DoJobber '${this.name}' tries failed jobs again in rounds, each a recovery of its run, and store '${runtime.store.location}' keeps nothing to recover: give store a LevelDB folder (or leave it out for .eventor/${this.name})`,
      );
    }
    this.runtime = runtime;
    this.triedThisRound.clear();
    runtime.subscribe((record) => this.observe(record));
    for (const listener of this.listeners) runtime.subscribe(listener);
    try {
      await runtime.run(() => spec, new Map(), 0, spec.triggers);
    } finally {
      this.lastRunId = runtime.runId;
      this.runtime = undefined;
      await runtime.close();
    }
  }

  /** Each job's outcome as its task's status says; a replayed success brings its stored job snapshot. */
  private observe(record: TransitionRecord): void {
    if (record.status !== 'success' && record.status !== 'failure') return;
    if (!this.nodes.has(record.step) || this.triedThisRound.has(record.step)) {
      // A job tried here: its outcome is set, unless its task failed for a reason of its own (a timeout).
      const outcome = this.outcomes.get(record.step);
      if (outcome && outcome.passed && record.status === 'failure') this.outcomes.set(record.step, { ...outcome, passed: false, error: errorFrom(record.error) });
      return;
    }
    if (record.status === 'success') {
      // Passed in an earlier round of this checknrun: what it returned is in memory, as it was.
      if (this.outcomes.get(record.step)?.passed) return;
      const context = (record.result as JobSnapshot | undefined)?.context;
      this.outcomes.set(record.step, { passed: true, context, result: context?.result });
    } else if (!this.outcomes.has(record.step)) {
      // A failure a recovery replayed from a run of another process: only its error is on record.
      this.outcomes.set(record.step, { passed: false, error: errorFrom(record.error) });
      this.exceptions.set(record.step, errorFrom(record.error));
    }
  }

  /** One try of a job, the job step's code: drives its machine through the phases it asks for. */
  private async tryJob(node: JobNode): Promise<unknown> {
    const settings = this.settings as Required<ConfigureOptions>;
    const attempt = (this.triesUsed.get(node.name) ?? 0) + 1;
    this.triesUsed.set(node.name, attempt);
    this.triedThisRound.add(node.name);
    const actor = createActor(jobMachine, { input: { job: node.name, kind: node.kind, noAct: settings.noAct, attempt, tries: node.tries, retryDelayMs: node.retryDelayMs } }).start();
    let printed = 0;
    const thrown: Partial<Record<'create' | 'check' | 'run' | 'recheck', unknown>> = {};
    const results: { check?: unknown; run?: unknown } = {};
    const send = (event: JobEvent) => {
      actor.send(event);
      printed = this.printPhases(node.name, actor.getSnapshot(), printed, thrown);
    };
    let instance: Job | undefined;
    send({ type: 'begin', at: Date.now() });
    try {
      instance = constructJob(this.globalStorage, () => new node.job());
      send({ type: 'created', at: Date.now() });
    } catch (error) {
      thrown.create = error;
      send({ type: 'createFailed', at: Date.now(), error: toErrorRecord(error) });
    }
    // The machine says what runs next; this loop only runs it and reports how it went.
    for (let snapshot = actor.getSnapshot(); snapshot.status === 'active'; snapshot = actor.getSnapshot()) {
      const job = instance as Job;
      if (snapshot.value === 'running') {
        this.ranInstances.push({ name: node.name, instance: job });
        try {
          const result = await job.run(...this.args);
          results.run = result;
          send({ type: 'runPassed', at: Date.now(), result: storable(result) });
        } catch (error) {
          thrown.run = error;
          send({ type: 'runFailed', at: Date.now(), error: toErrorRecord(error) });
        }
        continue;
      }
      const phase = snapshot.value === 'checking' ? 'check' : 'recheck';
      try {
        const result = await job.check(...this.args);
        results.check = result;
        send({ type: 'checkPassed', at: Date.now(), result: storable(result) });
      } catch (error) {
        thrown[phase] = error;
        send({ type: 'checkFailed', at: Date.now(), error: toErrorRecord(error) });
      }
    }
    const final = actor.getSnapshot();
    actor.stop();
    const { context } = final;
    if (final.value === 'passed') {
      this.outcomes.set(node.name, { passed: true, context, result: node.kind === 'runonly' ? results.run : results.check });
      return jobMachine.getPersistedSnapshot(final);
    }
    const failedPhase = context.phases.at(-1)?.phase ?? 'check';
    // A run-only job's recheck is its run: the error is the run's.
    const error = failedPhase === 'recheck' && node.kind === 'runonly' ? thrown.run : (thrown[failedPhase] ?? errorFrom(context.error));
    this.outcomes.set(node.name, { passed: false, context, error });
    this.exceptions.set(node.name, error);
    throw new JobFailedError(node.name, failedPhase === 'create' ? 'constructor' : failedPhase, context.error, { cause: error });
  }

  /** Prints the phases the machine judged since `from`, as the seed's verbose and debug lines; returns how many are printed. */
  private printPhases(name: string, snapshot: JobSnapshot, from: number, thrown: Partial<Record<string, unknown>>): number {
    const { phases } = snapshot.context;
    const settings = this.settings as Required<ConfigureOptions>;
    if (!settings.verbose) return phases.length;
    for (const entry of phases.slice(from)) {
      const shown = entry.phase === 'create' ? 'check' : entry.phase;
      const detail = entry.phase === 'recheck' && !entry.ok && entry.error ? ` "${entry.error.message}"` : '';
      this.say(`${name}.${shown}: ${entry.ok ? 'pass' : 'fail'}${detail}`);
      if (settings.debug && !entry.ok && entry.error) {
        const full = toErrorRecord(thrown[entry.phase] ?? entry.error).stack ?? `${entry.error.name}: ${entry.error.message}`;
        // The frames below the job's own code are the runtime's, the same for every job.
        const lines = full.split('\n');
        const ours = lines.findIndex((line) => line.includes('DoJobber.tryJob'));
        const stack = (ours > 0 ? lines.slice(0, ours) : lines).join('\n');
        this.say(`  ${entry.phase === 'create' ? 'Could not create job, error was' : 'Error was:'}\n  ${stack.trim().replace(/\n/g, '\n  ')}`);
      }
    }
    return phases.length;
  }

  private say(line: string): void {
    (this.options.output ?? process.stderr).write(`${line}\n`);
  }
}

/** The jobs `root` reaches through deps, deps first (the order the first round visits them), checked. */
function collectJobs(root: JobClass, settings: Required<ConfigureOptions>): Map<string, JobNode> {
  const nodes = new Map<string, JobNode>();
  const classes = new Map<string, JobClass>();
  const path: JobClass[] = [];
  const badTries: [string, unknown][] = [];
  const badDelay: [string, unknown][] = [];
  const visit = (job: JobClass, from: string | undefined): void => {
    if (!isJobClass(job)) throw new JobDefinitionError(from ? [from] : [], `the deps of job '${from}' hold ${describe(job)}: every dep is a class that extends Job, DummyJob or RunonlyJob`);
    const name = job.name;
    if (!name) throw new JobDefinitionError([], `a job class${from ? ` in the deps of '${from}'` : ''} has no name: give it one (class Name extends Job, or Object.defineProperty(job, 'name', { value }))`);
    const onPath = path.indexOf(job);
    if (onPath >= 0) throw new JobCycleError([...path.slice(onPath).map((item) => item.name), name]);
    const known = classes.get(name);
    if (known === job) return;
    if (known) throw new JobDefinitionError([name], `two different job classes are named '${name}': each job of a graph needs its own name; rename one`);
    classes.set(name, job);
    checkMethods(job);
    const deps: unknown = job.deps ?? [];
    if (!Array.isArray(deps)) throw new JobDefinitionError([name], `job '${name}' has deps ${describe(deps)}: give a list of job classes, static deps = [OtherJob]`);
    const tries = job.tries ?? settings.defaultTries;
    const retryDelay = job.retryDelay ?? settings.defaultRetryDelay;
    if (typeof tries !== 'number' || !Number.isInteger(tries) || tries < 1) badTries.push([name, tries]);
    if (typeof retryDelay !== 'number' || !(retryDelay >= 0) || !Number.isFinite(retryDelay)) badDelay.push([name, retryDelay]);
    path.push(job);
    for (const dep of deps as unknown[]) visit(dep as JobClass, name);
    path.pop();
    const kind: JobKind = job.prototype instanceof RunonlyJob ? 'runonly' : 'job';
    nodes.set(name, { name, job, kind, deps: [...new Set((deps as JobClass[]).map((dep) => dep.name))], tries, retryDelayMs: retryDelay * 1000 });
  };
  visit(root, undefined);
  const listed = (bad: [string, unknown][]) => bad.map(([name, value]) => `'${name}' (${describe(value)})`).join(', ');
  if (badTries.length > 0) throw new JobDefinitionError(badTries.map(([name]) => name), `jobs ${listed(badTries)} have tries below 1 or not whole: tries counts attempts in all, 1 or more`);
  if (badDelay.length > 0) throw new JobDefinitionError(badDelay.map(([name]) => name), `jobs ${listed(badDelay)} have a negative retryDelay: give seconds, 0 or more`);
  return nodes;
}

/** A job must have its own check and run; a run-only job its own run and no check. */
function checkMethods(job: JobClass): void {
  const proto = job.prototype;
  if (proto instanceof RunonlyJob || job === RunonlyJob) {
    if (proto.check !== RunonlyJob.prototype.check) throw new JobDefinitionError([job.name], `job '${job.name}' is a RunonlyJob and has a check(): a run-only job passes by its run alone; remove check(), or extend Job`);
    if (proto.run === Job.prototype.run) throw new JobDefinitionError([job.name], `job '${job.name}' is a RunonlyJob without run(): give it one`);
    return;
  }
  for (const method of ['check', 'run'] as const) {
    if (typeof proto[method] !== 'function' || proto[method] === Job.prototype[method]) {
      throw new JobDefinitionError([job.name], `job '${job.name}' has no ${method}(): give it one, or extend DummyJob (neither) or RunonlyJob (run only)`);
    }
  }
}
