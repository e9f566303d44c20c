import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { CommandExecutor } from '../executors/command.js';
import type { Executor } from '../executors/executor.js';
import { InlineExecutor } from '../executors/inline.js';
import { moduleUrl } from '../executors/modules.js';
import { ProcessExecutor } from '../executors/process.js';
import { currentStep } from '../executors/step-context.js';
import { WorkerExecutor } from '../executors/worker.js';
import { resolveRunConfig, type ExecutorKind, type NatsSettings, type RunConfig, type RunConfigInput } from '../model/config.js';
import { ConfigError, describe, EventorError, OptionError, StepCodeError, ValidationError, VolatileStoreError } from '../model/errors.js';
import { isPlainObject } from '../model/data.js';
import { fingerprintFlow } from '../model/fingerprint.js';
import type { Logger } from '../model/logger.js';
import type { RunStatus, TaskCounts } from '../model/records.js';
import type { FlowSpec, Sequence, StepSpec, TriggerSpec } from '../model/spec.js';
import { RunMode, type TaskStatus } from '../model/status.js';
import { validateFlow } from '../model/validate.js';
import { RunLogger, type LineSink } from '../observe/log.js';
import { createStore, defaultStoreFolder } from '../store/open-store.js';
import { latestRun, type Store } from '../store/store.js';
import type { ClusterLink, EarlierTry } from '../transport/link.js';
import type { PoolLedger } from '../transport/shared-pools.js';
import type { LaunchedAgents } from '../transport/ssh.js';
import { natsSettingsOf } from '../transport/nats-settings.js';
import { containerCode } from './container.js';
import { splitHosts } from './hosts.js';
import { planFlow, type FlowPlan } from './flow-plan.js';
import { takeUpRun } from './recovery.js';
import { ResourcePool } from './resource-pool.js';
import { Supervisor, type InspectObserver, type Todos, type TransitionListener } from './supervisor.js';

/** How the runtime of a flow is made, whatever dialect built the flow. */
export interface RuntimeOptions {
  /** Names the flow in logs and the default store folder. */
  name: string;
  /** A LevelDB folder (default `.eventor/<name>`), or ':memory:' to keep the run in this process only. */
  store?: string;
  runMode?: RunMode;
  runId?: string;
  recoveryRun?: number;
  config?: RunConfigInput;
  /** Where console log lines go instead of stderr (tests, embedding). */
  logSink?: LineSink;
  /**
   * An XState inspection observer (as `createActor` takes, e.g. `createBrowserInspector().inspect`
   * from @statelyai/inspect): it sees the supervisor actor, the run's lifecycle, every event
   * actor and every task machine's transitions.
   */
  inspect?: InspectObserver;
}

/** A run as `listRuns()` shows it. */
export interface RunSummary {
  runId: string;
  name: string;
  startedAt: Date;
  /** How many recoveries followed the first run. */
  recoveries: number;
  status: RunStatus;
  /** Tasks by status, as of the latest recovery's last record. */
  tasks: TaskCounts;
}

/**
 * Imports a step's module before anything runs, so that a missing module or export is a
 * validation error naming the step, not a failure halfway through a run.
 */
async function checkModule(step: StepSpec): Promise<void> {
  const url = moduleUrl(step.module as string);
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new StepCodeError(step.name, 'unimportable', `module ${step.module} cannot be imported (${(error as Error).message}): check the path (relative to ${process.cwd()}) and that it builds`);
  }
  if (typeof module[step.export as string] !== 'function') {
    throw new StepCodeError(step.name, 'unimportable', `module ${step.module} has no function export '${step.export}'${Object.keys(module).length ? ` (it exports ${Object.keys(module).join(', ')})` : ''}`);
  }
}

/** A new run id: sortable by time, unique enough to share a store. */
function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('Z', '');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** Makes the folder of the run's JSON log file, refusing a logdir that cannot be one before the store is touched. */
function makeLogFolder(logdir: string): void {
  try {
    mkdirSync(resolve(logdir), { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'it, or a folder above it, is a file' : `it cannot be made (${code ?? (error as Error).message})`;
    throw new ConfigError('logdir', logdir, `a folder for the run's JSON log files, and ${why}: give another logdir, or logging: { file: false }`);
  }
}

/** A store's location as a user would type it here: a folder under the working directory is shown relative to it. */
function shownLocation(location: string): string {
  const cwd = process.cwd();
  return location.startsWith(`${cwd}/`) ? location.slice(cwd.length + 1) : location;
}

/** One executor of each kind a flow uses; worker threads start only when a worker step runs. */
function openExecutors(plan: FlowPlan, config: RunConfig): Map<string, Executor> {
  const make: Record<ExecutorKind, () => Executor> = {
    inline: () => new InlineExecutor(),
    command: () => new CommandExecutor(),
    process: () => new ProcessExecutor(),
    worker: () => new WorkerExecutor(config.workers),
  };
  const executors = new Map<string, Executor>();
  for (const step of plan.steps.values()) if (step.executor !== 'remote' && !executors.has(step.executor)) executors.set(step.executor, make[step.executor as ExecutorKind]());
  return executors;
}

/** The tasks of a run taken up that were active on agents when it stopped: each is found again by its try. */
function earlierRemoteTries(taken: { replay?: import('./recovery.js').Lineage; restore?: import('../store/store.js').RecoveryState }, plan: FlowPlan): EarlierTry[] {
  const tries: EarlierTry[] = [];
  const remote = (step: string) => {
    const planned = plan.steps.get(step);
    return planned?.executor === 'remote' ? planned.spec : undefined;
  };
  if (taken.restore) {
    for (const record of taken.restore.tasks) {
      const step = remote(record.context.step);
      if (step && record.value === 'active') tries.push({ step, sequence: record.context.sequence, recovery: record.recovery, attempt: record.context.attempts });
    }
  } else if (taken.replay) {
    for (const [name, sequence, earlier] of taken.replay.entries()) {
      const step = remote(name);
      if (step && earlier.status === 'active' && earlier.attempts !== undefined) tries.push({ step, sequence, recovery: earlier.recovery, attempt: earlier.attempts });
    }
  }
  return tries;
}

/** Refuses runtime options of the wrong type with the option's name, rather than letting them fail later as a TypeError. */
export function checkRuntimeOptions(options: Omit<RuntimeOptions, 'name'>, where: string): void {
  const { store, config, inspect } = options;
  if (store !== undefined && typeof store !== 'string') throw new OptionError('store', store, "':memory:' or the path of a LevelDB folder", where);
  if (config !== undefined && (config === null || typeof config !== 'object')) throw new OptionError('config', config, 'an object of settings, { maxConcurrent, logging, ... }', where);
  if (config?.logging !== undefined && (config.logging === null || typeof config.logging !== 'object')) throw new ConfigError('logging', config.logging, 'an object, { level, console, file }');
  if (options.logSink !== undefined && typeof options.logSink !== 'function') throw new OptionError('logSink', options.logSink, 'a function that takes each console line', where);
  if (inspect !== undefined && typeof inspect !== 'function' && (inspect === null || typeof inspect !== 'object' || typeof inspect.next !== 'function')) {
    throw new OptionError('inspect', inspect, 'an XState inspection observer: a function, or an object with next()', where);
  }
  const mode = options.runMode ?? RunMode.restart;
  if (!Object.values(RunMode).includes(mode)) throw new ValidationError(`runMode '${String(mode)}' does not exist: use one of ${Object.values(RunMode).join(', ')}`);
  if (options.recoveryRun !== undefined && (!Number.isInteger(options.recoveryRun) || options.recoveryRun < 0)) {
    throw new ValidationError(`recoveryRun ${String(options.recoveryRun)} is not a recovery number: use 0 for the first run, 1 for the first recovery, ...`);
  }
}

/** What the command line sets for every flow a flow file builds: defaults under the flow's own options, and overrides over them. */
export interface CommandLineOptions {
  /** From a configuration file: they fill what the flow leaves out. */
  defaults?: Pick<RuntimeOptions, 'store' | 'config'>;
  /** From flags: they win over the flow's own options. */
  overrides?: Partial<Omit<RuntimeOptions, 'name' | 'logSink'>>;
}

let commandLine: CommandLineOptions = {};

/**
 * Sets what the command line gives every runtime made from now on, so that flags reach a flow
 * that a module builds at import time as much as one a function builds. @internal
 */
export function setCommandLineOptions(options: CommandLineOptions): void {
  commandLine = options;
}

/** Settings of `over` laid on `base`, nested objects (logging, nats, ssh) merged rather than replaced. */
export function mergeConfig(base: RunConfigInput | undefined, over: RunConfigInput | undefined): RunConfigInput | undefined {
  if (base === undefined || over === undefined) return over ?? base;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const earlier = merged[key];
    merged[key] = isPlainObject(value) && isPlainObject(earlier) ? mergeConfig(earlier as RunConfigInput, value as RunConfigInput) : value;
  }
  return merged as RunConfigInput;
}

/** A runtime's options with the command line's defaults under them and its overrides over them. */
function withCommandLine(options: RuntimeOptions): RuntimeOptions {
  const { defaults = {}, overrides = {} } = commandLine;
  const layered: RuntimeOptions = { ...options, store: options.store ?? defaults.store, config: mergeConfig(defaults.config, options.config) };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined && key !== 'config') (layered as unknown as Record<string, unknown>)[key] = value;
  layered.config = mergeConfig(layered.config, overrides.config);
  return layered;
}

/**
 * The one place a run is assembled, for every dialect: from a FlowSpec it validates and plans
 * the flow, makes the executors, opens the store and the logs, starts a new run or takes up
 * an earlier one (recovery.ts), and hands it to a supervisor. Dialects only build FlowSpecs.
 */
export class FlowRuntime {
  readonly name: string;
  readonly mode: RunMode;
  readonly config: RunConfig;
  readonly store: Store;
  readonly logger: Logger;
  private readonly runLogger: RunLogger;
  private readonly listeners = new Set<TransitionListener>();
  private supervisor: Supervisor | undefined;
  private executors: Executor[] = [];
  private preparing: Promise<Supervisor> | undefined;
  private storeOpened = false;
  private resolvedRunId: string;
  private closed = false;
  private ledger: PoolLedger | undefined;
  private launched: LaunchedAgents | undefined;
  private sharedPools: ResourcePool[] = [];

  private readonly options: RuntimeOptions;

  constructor(given: RuntimeOptions) {
    const options = withCommandLine(given);
    this.options = options;
    this.name = options.name;
    this.mode = options.runMode ?? RunMode.restart;
    this.config = resolveRunConfig(options.config);
    this.runLogger = new RunLogger(`Run-${this.name}`, { ...this.config.logging, host: hostname(), sink: options.logSink });
    this.logger = this.runLogger.root;
    this.store = createStore(options.store ?? defaultStoreFolder(this.name), { durability: this.config.durability, nats: this.config.nats });
    if (this.mode !== RunMode.restart && !this.store.durable) {
      throw new VolatileStoreError(`runMode '${this.mode}' needs a store that keeps runs, and '${this.store.location}' keeps nothing: give store a LevelDB folder (or leave it out for .eventor/${this.name}), or a NATS bucket (nats://host:4222/bucket)`);
    }
    // Recover and continue learn the run id from the store, unless it is given.
    this.resolvedRunId = options.runId ?? (this.mode === RunMode.restart ? newRunId() : '');
  }

  /** The id of the run: given, made for a new run, or (recover and continue) found in the store when the run is prepared. */
  get runId(): string {
    return this.resolvedRunId;
  }

  /** Whether a run has been prepared: the flow can no longer change. */
  get prepared(): boolean {
    return this.supervisor !== undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Calls `listener` on every task transition; returns the function that stops it. */
  subscribe(listener: TransitionListener): () => void {
    if (typeof listener !== 'function') throw new ValidationError(`subscribe() got ${describe(listener)}: give it a function, called with each task transition`);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Validates the flow, opens the store, finds the run to take up, and makes its supervisor; once. */
  prepare(spec: () => FlowSpec, pools: ReadonlyMap<string, ResourcePool> = new Map()): Promise<Supervisor> {
    this.preparing ??= this.createSupervisor(spec(), pools).then(
      (supervisor) => {
        this.supervisor = supervisor;
        return supervisor;
      },
      async (error: unknown) => {
        // A connection to NATS or a worker pool opened before the failure must not keep the process alive.
        const opened = this.executors;
        this.executors = [];
        await this.launched?.stop().catch(() => undefined);
        await Promise.all(opened.map((executor) => executor.close().catch(() => undefined)));
        throw error;
      },
    );
    return this.preparing;
  }

  /** Prepares the run if need be, then runs it; resolves true unless a failure went unhandled or the run was stopped. */
  async run(spec: () => FlowSpec, pools: ReadonlyMap<string, ResourcePool>, maxLoops: number, triggers: readonly TriggerSpec[]): Promise<boolean> {
    const supervisor = await this.prepare(spec, pools);
    return supervisor.run(maxLoops, triggers);
  }

  /** Fires `event` for `sequence` in the prepared run; its work joins the run. */
  trigger(event: string, sequence: Sequence): void {
    if (!this.supervisor) throw new EventorError(`event '${event}' was triggered before the run was prepared`);
    this.supervisor.trigger(event, sequence);
  }

  /** Work not finished yet; in continue mode it prepares the run to read the stored one. */
  async countTodos(spec: () => FlowSpec, pools: ReadonlyMap<string, ResourcePool>): Promise<Todos> {
    if (!this.supervisor && this.mode === RunMode.continue && !this.closed) await this.prepare(spec, pools);
    return this.supervisor?.countTodos() ?? { total: 0, byStep: {} };
  }

  /** The runs in this flow's store, oldest first. */
  async listRuns(): Promise<RunSummary[]> {
    await this.openStore();
    const runs = await this.store.listRuns();
    return runs
      .sort((a, b) => a.startedAt - b.startedAt)
      .map((run) => ({ runId: run.runId, name: run.name, startedAt: new Date(run.startedAt), recoveries: run.recovery, status: run.status, tasks: run.counts }));
  }

  /** Deletes the runs started more than `olderThanDays` days ago, but never the current one; returns their ids. */
  async deleteRuns(options: { olderThanDays: number }): Promise<string[]> {
    const olderThanDays = (options as { olderThanDays?: unknown } | undefined)?.olderThanDays;
    if (typeof olderThanDays !== 'number' || !(olderThanDays >= 0)) throw new OptionError('olderThanDays', olderThanDays, 'a number of days, 0 or more', 'deleteRuns()');
    await this.openStore();
    const cutoff = Date.now() - olderThanDays * 86_400_000;
    const runs = await this.store.listRuns();
    // Never the run this runtime runs or is about to take up.
    const kept = this.resolvedRunId || (this.mode === RunMode.restart ? '' : (this.options.runId ?? latestRun(runs)?.runId ?? ''));
    const deleted: string[] = [];
    for (const run of runs) {
      if (run.startedAt >= cutoff || run.runId === kept) continue;
      await this.store.deleteRun(run.runId);
      deleted.push(run.runId);
    }
    return deleted;
  }

  /**
   * From inside a running step: resolves with the first of `events` to fire for `sequence`, or
   * with undefined once nothing left could make one fire; rejects if the run stops. The
   * calling step gives its concurrency slot back while it waits.
   */
  waitForEvent(events: readonly string[], sequence: Sequence): Promise<string | undefined> {
    if (!this.supervisor) return Promise.reject(new EventorError(`waitForEvent('${events.join("', '")}') was called before run(): call it from a running step`));
    let step: { step: string; sequence: string } | undefined;
    try {
      const { name, sequence: own } = currentStep();
      step = { step: name, sequence: own };
    } catch {
      step = undefined;
    }
    return this.supervisor.waitForEvent(events, sequence, step);
  }

  /** The status of a task of this run, as its machine says, if it has one yet. */
  statusOf(step: string, sequence: Sequence): TaskStatus | undefined {
    return this.supervisor?.statusOf(step, sequence);
  }

  /** Stops a run that is going; resolves when it has ended. */
  async cancel(reason: string): Promise<void> {
    await this.supervisor?.cancel(reason);
  }

  /** Ends a run still going, then releases the store, the executors and every actor. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.preparing?.catch(() => undefined);
    // Each part is released even if one before it fails, so that the store's lock never outlives close().
    const parts = [
      () => this.supervisor?.close(this.config.closeGrace * 1000),
      // Units of shared pools go back, and agents started over SSH drain, while NATS is still there.
      () => Promise.all(this.sharedPools.map((pool) => pool.giveBackIdle())),
      () => this.ledger?.close(),
      () => this.launched?.stop(),
      () => Promise.all(this.executors.map((executor) => executor.close())),
      () => (this.storeOpened ? this.store.close() : undefined),
      () => this.runLogger.close(),
    ];
    let failure: unknown;
    for (const part of parts) {
      try {
        await part();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  private async createSupervisor(given: FlowSpec, userPools: ReadonlyMap<string, ResourcePool>): Promise<Supervisor> {
    validateFlow(given);
    // Pools a flow names without a ResourcePool of the user's (flow files) are made here.
    const pools = new Map(userPools);
    for (const pool of given.pools ?? []) if (!pools.has(pool.name)) pools.set(pool.name, new ResourcePool(pool.name, { limit: pool.limit, shared: pool.shared }));
    // Containers are the runtime's own code: each runs its children's repeats through the supervisor.
    let supervisor: Supervisor | undefined;
    const control = {
      trigger: (event: string, sequence: Sequence) => (supervisor as Supervisor).trigger(event, sequence),
      waitForEvent: (events: readonly string[], sequence: Sequence) => this.waitForEvent(events, sequence),
      statusOf: (step: string, sequence: Sequence) => (supervisor as Supervisor).statusOf(step, sequence),
    };
    const withCode: FlowSpec = given.steps.some((step) => step.container) ? { ...given, steps: given.steps.map((step) => (step.container ? { ...step, func: containerCode(step.container, control) } : step)) } : given;
    const spec = splitHosts(withCode);
    if (spec !== withCode) validateFlow(spec);
    const plan = planFlow(spec, pools);
    const remoteSteps = [...plan.steps.values()].filter((step) => step.executor === 'remote').map((step) => step.spec);
    for (const step of plan.steps.values()) if (step.spec.module !== undefined && step.executor !== 'remote') await checkModule(step.spec);
    const logFile = this.config.logging.file ?? this.store.durable;
    if (logFile) makeLogFolder(this.config.logdir);
    const nats = natsSettingsOf(this.config.nats);
    const shared = [...pools.values()].filter((pool) => pool.shared);
    if (shared.length > 0 && !nats) {
      throw new ValidationError(`resource pool '${shared[0].name}' is shared, and this run has no NATS to keep its holdings in: give config.nats ({ servers: 'nats://host:4222' }) or set EVENTOR_NATS_URL`);
    }
    if (remoteSteps.length > 0 && !nats) {
      throw new ValidationError(`step '${remoteSteps[0].name}' runs on other hosts (hosts or queue), and this run has no NATS: give config.nats ({ servers: 'nats://host:4222' }) or set EVENTOR_NATS_URL`);
    }
    // The cluster first: a NATS that cannot be reached, or agents that are missing, end the run before the store is touched.
    let link: ClusterLink | undefined;
    if (nats) {
      // The NATS client loads only for a run that talks to NATS: a local run starts sooner without it.
      const { ClusterLink } = await import('../transport/link.js');
      link = await ClusterLink.open(nats, `eventor-${this.name}`, this.logger);
      this.executors.push(link);
      if (remoteSteps.length > 0 && this.config.ssh !== undefined) await this.launchMissing(link, remoteSteps, nats);
      if (remoteSteps.length > 0) await link.prepare(remoteSteps);
    }
    const executors = openExecutors(plan, this.config);
    if (link && remoteSteps.length > 0) executors.set('remote', link);
    this.executors.push(...[...executors.values()].filter((executor) => executor !== link));
    await this.openStore();
    if (this.mode === RunMode.restart && this.config.dayToKeepDb > 0) {
      const deleted = await this.deleteRuns({ olderThanDays: this.config.dayToKeepDb });
      if (deleted.length) this.logger.info(`Deleted ${deleted.length} run(s) older than ${this.config.dayToKeepDb} day(s) (dayToKeepDb)`);
    }
    const taken = await takeUpRun({ store: this.store, spec, fingerprint: fingerprintFlow(given), mode: this.mode, runId: this.options.runId ?? (this.mode === RunMode.restart ? this.resolvedRunId : ''), recoveryRun: this.options.recoveryRun });
    this.resolvedRunId = taken.run.runId;
    if (link) {
      link.attach(taken.run.runId, (event, sequence) => {
        if (!this.supervisor?.running || this.closed) return `run ${taken.run.runId} is not running (it has not started, or it has ended): recover or continue it to go on`;
        this.supervisor.trigger(event, sequence);
        return undefined;
      }, (token, outcome) => {
        const supervisor = this.supervisor;
        if (!supervisor?.running || this.closed) return `run ${taken.run.runId} is not running: recover or continue it, then complete the step`;
        if (!supervisor.awaitsCompletion(token)) return `no deferred step of run ${taken.run.runId} waits for this token: it was completed already, timed out, or belongs to another run`;
        supervisor.complete(token, outcome);
        return undefined;
      });
      if (shared.length > 0) {
        const { PoolLedger } = await import('../transport/shared-pools.js');
        const ledger = await PoolLedger.open(link.connection, link.subjects.prefix, taken.run.runId, this.logger);
        this.ledger = ledger;
        for (const pool of shared) {
          pool.bindShared(ledger, () => this.supervisor?.wake());
          // What this run held when its supervisor stopped goes back: its tasks take again what they need.
          if (this.mode !== RunMode.restart) {
            const given = await ledger.giveAll(pool.name, pool.limit);
            if (given > 0) this.logger.info(`Gave back ${given} unit(s) of shared pool ${pool.name} that this run held when it stopped`);
          }
        }
        this.sharedPools = shared;
      }
      const earlier = earlierRemoteTries(taken, plan);
      if (earlier.length > 0) {
        const { finished, awaited } = await link.adopt(earlier);
        this.logger.info(`Of ${earlier.length} task(s) that were active on agents: ${finished} finished meanwhile (outcome collected), ${awaited} still run (awaited), ${earlier.length - finished - awaited} run again`);
      }
    }
    supervisor = new Supervisor(plan, {
      run: taken.run,
      replay: taken.replay,
      store: this.store,
      logger: this.logger,
      host: hostname(),
      executors,
      listeners: this.listeners,
      inspect: this.options.inspect,
      canDefer: link !== undefined,
    });
    if (logFile) {
      this.runLogger.attachFile(join(resolve(this.config.logdir), `${this.name}-${taken.run.runId}.jsonl`), { runId: taken.run.runId, recovery: taken.run.recovery });
    }
    if (taken.restore) supervisor.restore(taken.restore);
    const what = this.mode === RunMode.restart ? 'Starting run' : this.mode === RunMode.recover ? `Recovering (recovery ${taken.run.recovery}) run` : `Continuing (recovery ${taken.run.recovery}) run`;
    this.logger.info(`${what} ${taken.run.runId} of flow ${this.name} (store: ${shownLocation(this.store.location)})`);
    return supervisor;
  }

  /** Starts over SSH the agents that the flow's hosts and queues lack; they are stopped when the runtime closes. */
  private async launchMissing(link: ClusterLink, steps: StepSpec[], nats: NatsSettings): Promise<void> {
    const { checkSshSettings, launchAgents } = await import('../transport/ssh.js');
    const ssh = checkSshSettings(this.config.ssh);
    const missing = await link.missing(steps);
    const hosts = new Set(missing.hosts);
    // A queue nobody serves gets the agents of the hosts whose ssh settings say they serve it.
    for (const [name, host] of Object.entries(ssh.hosts ?? {})) if (host.queues?.some((queue) => missing.queues.includes(queue))) hosts.add(name);
    if (hosts.size === 0) return;
    this.logger.info(`Starting agents over SSH on ${[...hosts].join(', ')}`);
    this.launched = await launchAgents({
      hosts: [...hosts],
      ssh,
      nats: { servers: nats.servers, user: nats.user, pass: nats.pass, token: nats.token, nkey: nats.nkey, prefix: nats.prefix },
      logger: this.logger,
      readyTimeout: nats.agentTimeout ?? 30,
    });
  }

  private async openStore(): Promise<void> {
    if (this.storeOpened) return;
    await this.store.open();
    this.storeOpened = true;
  }
}
