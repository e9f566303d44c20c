import { createActor, fromTransition, type Actor, type ActorLogic, type InspectionEvent, type Observer } from 'xstate';
import { eventLogic } from '../machines/event.machine.js';
import { supervisorMachine } from '../machines/supervisor.machine.js';
import { taskMachine, type TaskEvent, type TaskInput } from '../machines/task.machine.js';
import { CancelledError, EventorError, RunStalledError, StepTimeoutError, StoreError, UnknownNameError, timeoutMessage, toErrorRecord, type ErrorRecord } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { RECORD_VERSION, type RunRecord, type RunStatus, type StoreRecord, type TaskCounts, type TaskRecord, type TransitionRecord } from '../model/records.js';
import type { Sequence } from '../model/spec.js';
import { isFinal, type TaskStatus } from '../model/status.js';
import type { RecoveryState, Store } from '../store/store.js';
import type { Executor } from '../executors/executor.js';
import type { StepContext } from '../executors/step-context.js';
import { Delays, MAX_TIMER_MS } from './delays.js';
import { EventWaiters } from './event-waiters.js';
import type { FlowPlan, StepPlan } from './flow-plan.js';
import { ReadyQueue } from './ready-queue.js';
import type { Lineage } from './recovery.js';
import { Fifo } from '../model/fifo.js';
import { acquireAll, type ResourcePool } from './resource-pool.js';
import { StoreWriter } from './store-writer.js';
import { deferToken } from '../transport/protocol.js';

/** A listener of task transitions, as `subscribe()` registers it. */
export type TransitionListener = (transition: TransitionRecord) => void;

/** What the XState inspector (or any observer of inspection events) is given. */
export type InspectObserver = Observer<InspectionEvent> | ((event: InspectionEvent) => void);

/** Work not finished yet, as `countTodos()` reports it. */
export interface Todos {
  total: number;
  byStep: Record<string, number>;
}

/** What a supervisor needs besides the flow. */
export interface SupervisorOptions {
  /** The run this supervisor drives, as recorded; its status is written at every start and end of `run()`. */
  run: RunRecord;
  /** Recover mode: the tasks of the recovery being taken up, by task key, replayed by each step's recovery map. */
  replay?: Lineage;
  store: Store;
  logger: Logger;
  host: string;
  executors: ReadonlyMap<string, Executor>;
  listeners: ReadonlySet<TransitionListener>;
  /** Sees the supervisor, the run's lifecycle, every event actor and every task's transitions. */
  inspect?: InspectObserver;
  /** Whether steps may defer their completion: completions come over NATS, so a run without it has none. */
  canDefer?: boolean;
}

/** What the supervisor actor is told: the run's events, as XState events. */
export type SupervisorEvent =
  | { type: 'trigger'; event: string; sequence: Sequence }
  | { type: 'task.outcome'; key: string; outcome: 'succeed' | 'fail' | 'defer'; result?: unknown; error?: ErrorRecord; host?: string }
  | { type: 'timer' }
  /** A deferred task's outcome, from outside. */
  | { type: 'task.complete'; token: string; ok: boolean; result?: unknown; error?: ErrorRecord }
  | { type: 'cancel'; reason: string }
  | { type: 'run'; triggers: readonly { event: string; sequence: Sequence }[] }
  | { type: 'pump' }
  | { type: 'launch' };

/** What the supervisor actor's snapshot shows: a summary of its run, plain data for inspectors. */
export interface SupervisorSummary {
  runId: string;
  recovery: number;
  live: number;
  finished: number;
  active: number;
}

type TaskActor = Actor<typeof taskMachine>;
type EventActor = Actor<typeof eventLogic>;
type TaskSnapshot = ReturnType<TaskActor['getSnapshot']>;

/** A task that has not reached a final status: its actor, the snapshot last acted on, and where it stands in the queues. */
interface LiveTask {
  readonly key: string;
  /** The step's name, by which the ready queue keeps each step's limit. */
  readonly step: string;
  readonly plan: StepPlan;
  readonly actor: TaskActor;
  snapshot: TaskSnapshot;
  /** When it became ready; the ready queue starts tasks in this order. */
  order: number;
  abort?: AbortController;
  /** Made the first time the task logs. */
  logger?: Logger;
  /** Set while its code runs: an outcome for a try that is over is ignored. */
  running: boolean;
  /** The token its code asked for with defer() in this try. */
  token?: string;
  /** Whether it holds its step's resources in this process (a deferred task taken up by a recovery does not). */
  holding?: boolean;
}

/**
 * The final status of every finished task, by step and then by sequence: the sequences are the
 * strings the tasks already hold, so a million finished tasks cost no key of their own.
 */
class FinalStatuses {
  private readonly bySteps = new Map<string, Map<Sequence, TaskStatus>>();
  size = 0;

  set(step: string, sequence: Sequence, status: TaskStatus): void {
    let bySequence = this.bySteps.get(step);
    if (!bySequence) this.bySteps.set(step, (bySequence = new Map()));
    if (!bySequence.has(sequence)) this.size++;
    bySequence.set(sequence, status);
  }

  get(step: string, sequence: Sequence): TaskStatus | undefined {
    return this.bySteps.get(step)?.get(sequence);
  }

  has(step: string, sequence: Sequence): boolean {
    return this.bySteps.get(step)?.has(sequence) ?? false;
  }

  *values(): IterableIterator<TaskStatus> {
    for (const bySequence of this.bySteps.values()) yield* bySequence.values();
  }
}

/** A task a recovery may replay, waiting to be made. */
interface PendingReplay {
  readonly plan: StepPlan;
  readonly sequence: Sequence;
  readonly dueAt?: number;
}

/** An association to an event that waits for its delay. */
interface DelayedTrigger {
  readonly event: string;
  readonly sequence: Sequence;
  readonly dueAt: number;
}

type DueItem = { dueAt: number; task: LiveTask } | { dueAt: number; trigger: DelayedTrigger };

/** Work to do in order: processed by a loop, not by recursion, so that long event chains cannot overflow the stack. */
type Work = { kind: 'trigger'; event: string; sequence: Sequence } | { kind: 'source'; event: string; source: string; sequence: Sequence };

/** One call of `run()`: when it ends, and what it reports. */
interface Session {
  readonly maxLoops: number;
  loops: number;
  /** Whether anything happened since the last loop ended. */
  busy: boolean;
  readonly resolve: (ok: boolean) => void;
  readonly reject: (error: unknown) => void;
  /** Settles when this `run()` does, whatever its outcome. */
  readonly ended: Promise<unknown>;
}

/** The key of a task in the supervisor's maps and a recovery's replay map. */
export const taskKey = (step: string, sequence: Sequence): string => `${step}\u0000${sequence}`;

/** How many tasks a recovery replays per launch. */
const REPLAYS_PER_LAUNCH = 512;

/** How many tasks' code starts in one turn of the event loop. */
const EXECUTES_PER_TURN = 512;

/** How many launches run on microtasks before the event loop gets a turn. */
const LAUNCHES_PER_TURN = 64;

const statusOfSnapshot = (snapshot: TaskSnapshot): TaskStatus => snapshot.value as TaskStatus;

/**
 * The supervisor's actor logic: every event of the run goes through XState to the runtime that
 * owns the run, and the actor's snapshot is a summary of it.
 */
function supervisorLogic(runtime: Supervisor): ActorLogic<any, SupervisorEvent, unknown, any, any> {
  return fromTransition<SupervisorSummary, SupervisorEvent, any, unknown, any>(
    (_summary, event) => {
      runtime.receive(event);
      return runtime.summary();
    },
    () => runtime.summary(),
  );
}

/**
 * Owns one run: an XState actor (the supervisor) receives the run's events, spawns the event and
 * task actors into its system, starts ready tasks within the limits, keeps delays on one timer,
 * writes every machine's persisted snapshot to the store and decides when a `run()` is over.
 * A task's status is whatever its machine says: the supervisor sends events and acts on the
 * snapshot. Finished task actors stop; only their final status stays in memory, so a run's
 * memory follows its live work, not its history.
 */
export class Supervisor {
  readonly runId: string;
  /** The supervisor actor; every task, event and the lifecycle are actors of its system. */
  readonly actor: Actor<ActorLogic<any, SupervisorEvent, unknown, any, any>>;
  private readonly lifecycle: Actor<typeof supervisorMachine>;
  private readonly events = new Map<string, EventActor>();
  private readonly live = new Map<string, LiveTask>();
  private readonly finished = new FinalStatuses();
  private readonly ready = new ReadyQueue<LiveTask>();
  /** Tasks waiting for resources, in the order they began to wait. */
  private acquiring: LiveTask[] = [];
  private readonly due = new Delays<DueItem>(() => this.actor.send({ type: 'timer' }));
  private readonly activeByStep = new Map<string, number>();
  private readonly writer: StoreWriter;
  private active = 0;
  private readyOrder = 0;
  private work: Work[] = [];
  private draining = false;
  private session: Session | undefined;
  private cancelReason: string | undefined;
  private pumpScheduled = false;
  /** Tasks whose machine went active and whose code starts once their records are written. */
  private launching: LiveTask[] = [];
  private launchScheduled = false;
  /** Tasks a recovery may replay, to be made by the next launches, in the order they were triggered. */
  private readonly replays = new Fifo<PendingReplay>();
  private readonly replayKeys = new Set<string>();
  /** Launches since the event loop last turned. */
  private launchesThisTurn = 0;
  /** Active tasks whose code handed their completion to another system, by token; they hold no slot. */
  private readonly deferred = new Map<string, LiveTask>();
  /** Steps waiting inside their code for events; they do not count against the concurrency limits. */
  private readonly waiters = new EventWaiters();
  /** Tasks a recovery replayed instead of running, in the current run(). */
  private skipped = 0;
  /** Set once the runtime itself failed (a store that cannot be written): the run cannot go on. */
  private broken = false;
  /** Set once close() gave up waiting: whatever a step still running does later is ignored. */
  private abandoned = false;
  /** Ends a run() whose event loop emptied with tasks still active: none of them can ever finish. */
  private readonly onBeforeExit = () => this.stalled();
  private readonly recovery: number;
  private current: SupervisorSummary | undefined;

  constructor(
    private readonly plan: FlowPlan,
    private readonly options: SupervisorOptions,
  ) {
    this.runId = options.run.runId;
    this.recovery = options.run.recovery;
    this.writer = new StoreWriter(options.store, (error) => this.failRun(error));
    this.actor = createActor(supervisorLogic(this), { id: `supervisor:${this.runId}`, inspect: options.inspect });
    this.lifecycle = createActor(supervisorMachine, { parent: this.actor, id: 'lifecycle' });
    this.actor.start();
    this.lifecycle.start();
  }

  /** Offers waiting tasks a start again: a shared pool got units they wait for. */
  wake(): void {
    this.schedulePump();
  }

  /** Whether a `run()` is going. */
  get running(): boolean {
    return this.session !== undefined;
  }

  /** The supervisor actor's snapshot: one object kept up to date, since the actor takes a new one on every event it receives. */
  summary(): SupervisorSummary {
    const summary = (this.current ??= { runId: this.runId, recovery: this.recovery, live: 0, finished: 0, active: 0 });
    summary.live = this.live.size;
    summary.finished = this.finished.size;
    summary.active = this.active;
    return summary;
  }

  /** Handles one event the supervisor actor received; a failure of the runtime itself ends the run rather than the actor. */
  receive(event: SupervisorEvent): void {
    try {
      switch (event.type) {
        case 'trigger':
          this.onTrigger(event.event, event.sequence);
          break;
        case 'task.outcome': {
          const task = this.live.get(event.key);
          if (!task) break;
          if (event.outcome === 'defer') this.deferTask(task);
          else this.finish(task, event.outcome === 'succeed' ? { type: 'succeed', at: Date.now(), result: event.result, host: event.host } : { type: 'fail', at: Date.now(), error: event.error as ErrorRecord, host: event.host });
          break;
        }
        case 'task.complete': {
          const task = this.deferred.get(event.token);
          if (task) this.completeDeferred(task, event.ok ? { type: 'succeed', at: Date.now(), result: event.result } : { type: 'fail', at: Date.now(), error: event.error as ErrorRecord });
          break;
        }
        case 'timer':
          this.releaseDue(Date.now());
          this.armTimer();
          break;
        case 'cancel':
          this.onCancel(event.reason);
          break;
        case 'run':
          this.lifecycle.send({ type: 'run' });
          this.recordRun('running');
          for (const { event: name, sequence } of event.triggers) this.onTrigger(name, sequence);
          this.releaseDue(Date.now());
          break;
        case 'pump':
          break;
        case 'launch':
          this.launch();
          break;
        default: {
          // A machine that threw: XState stopped it and tells its parent, and the run cannot go on.
          const type = (event as { type: string }).type;
          if (type.startsWith('xstate.error.actor')) this.failRun((event as { error?: unknown }).error);
          // The done events of finished tasks, relayed by XState to their parent: their snapshot was acted on already.
          return;
        }
      }
      this.pump();
      this.checkSettled();
    } catch (error) {
      this.failRun(error);
    }
  }

  /** The actor of an event, spawned the first time the event is triggered or one of its sources fires. */
  private eventActor(name: string): EventActor {
    let actor = this.events.get(name);
    if (!actor) {
      actor = createActor(eventLogic, { input: { name, expr: this.plan.events.get(name)?.expr }, parent: this.actor, id: `event:${name}` });
      actor.on('fired', ({ sequence }) => this.onEventFired(name, sequence));
      this.events.set(name, actor.start());
    }
    return actor;
  }

  /** Fires `event` for `sequence`; its consequences join the run (and wait for `run()` if none is going). */
  trigger(event: string, sequence: Sequence): void {
    if (!this.plan.events.has(event)) throw new UnknownNameError('event', event, 'triggerEvent');
    this.actor.send({ type: 'trigger', event, sequence });
  }

  private onTrigger(event: string, sequence: Sequence): void {
    this.markBusy();
    this.enqueue({ kind: 'trigger', event, sequence });
  }

  /** Starts ready tasks on a later microtask, once what made them ready is over. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.actor.send({ type: 'pump' });
    });
  }

  /**
   * Runs until nothing is ready, active or (unless `maxLoops` ends it) waiting on a delay,
   * first firing `triggers`: inside the run, so that a failure they replay counts in it.
   */
  run(maxLoops: number, triggers: readonly { event: string; sequence: Sequence }[] = []): Promise<boolean> {
    const unknown = triggers.find(({ event }) => !this.plan.events.has(event));
    if (unknown) return Promise.reject(new UnknownNameError('event', unknown.event, 'triggerEvent'));
    if (this.session) return Promise.reject(new EventorError('run() was called while the same Eventor is already running: await the first run() before calling it again'));
    let resolve!: (ok: boolean) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<boolean>((onResolve, onReject) => {
      resolve = onResolve;
      reject = onReject;
    });
    const ended = promise.then(
      () => undefined,
      () => undefined,
    );
    this.session = { maxLoops: maxLoops > 0 ? maxLoops : Infinity, loops: 0, busy: true, resolve, reject, ended };
    process.on('beforeExit', this.onBeforeExit);
    void ended.then(() => process.off('beforeExit', this.onBeforeExit));
    this.actor.send({ type: 'run', triggers });
    return promise;
  }

  /**
   * Stops the run: no new task starts, active tasks see their `signal` abort and may finish.
   * Resolves when the current `run()` has ended; the run can be recovered later.
   */
  async cancel(reason: string): Promise<void> {
    const session = this.session;
    if (!session) return;
    this.actor.send({ type: 'cancel', reason });
    await session.ended;
  }

  private onCancel(reason: string): void {
    if (!this.session) return;
    this.cancelReason ??= reason;
    this.lifecycle.send({ type: 'cancel', reason });
    this.options.logger.info(`Cancelling: ${reason}; no new task starts, ${this.active} running task(s) are signalled`);
    for (const task of this.live.values()) task.abort?.abort(new CancelledError(reason));
    this.options.logger.flush?.();
  }

  /**
   * Takes up a recovery where it stopped (continue mode): every unfinished task is restored by
   * XState from its stored snapshot, finished tasks stay finished, events that fired stay
   * fired, delays keep their due times, and tasks that were active (interrupted) are ready again.
   */
  restore(state: RecoveryState): void {
    for (const record of [...state.tasks].sort((a, b) => a.at - b.at)) {
      const { step, sequence } = record.context;
      const plan = this.plan.steps.get(step) as StepPlan;
      const key = taskKey(step, sequence);
      if (isFinal(record.value)) {
        this.finished.set(step, sequence, record.value);
        // A failure nothing handled still counts: continuing does not make a failed run succeed.
        if (record.value === 'failure') this.lifecycle.send({ type: 'failure', handled: plan.handlesFailure, stop: plan.stopOnException, step, sequence });
        continue;
      }
      const actor = createActor(taskMachine, { snapshot: record, input: record.context, parent: this.actor, id: `task:${step}/${sequence}` });
      const task = this.track(plan, key, actor.start());
      if (record.value === 'active' && record.context.deferred === undefined) {
        this.options.logger.warn(`[ Step ${step}/${sequence} ] was active when the run stopped; it runs again`);
        this.drive(task, { type: 'resume' });
      } else this.enter(task);
    }
    for (const delay of state.delays) if (!delay.done) this.due.push({ dueAt: delay.dueAt, trigger: { event: delay.event, sequence: delay.sequence, dueAt: delay.dueAt } });
    for (const { event, sequence } of state.events) this.eventActor(event).send({ type: 'restore', sequence });
    // An expression event learns again which of its events fired; one that now holds fires.
    for (const { event, sequence } of state.events) {
      for (const dependent of this.plan.dependents.get(event) ?? []) this.enqueue({ kind: 'source', event: dependent, source: event, sequence });
    }
  }

  /** Work not finished: tasks waiting, ready or active, and delayed associations to events. */
  countTodos(): Todos {
    const byStep: Record<string, number> = {};
    for (const task of this.live.values()) byStep[task.plan.name] = (byStep[task.plan.name] ?? 0) + 1;
    for (const { plan } of this.replays) byStep[plan.name] = (byStep[plan.name] ?? 0) + 1;
    let total = this.live.size + this.replays.size;
    for (const item of this.due) if ('trigger' in item) total++;
    return { total, byStep };
  }

  /** The status of a task as its machine says, if it has one. */
  statusOf(step: string, sequence: Sequence): TaskStatus | undefined {
    const key = taskKey(step, sequence);
    const task = this.live.get(key);
    return this.finished.get(step, sequence) ?? (task && statusOfSnapshot(task.snapshot));
  }

  /**
   * Cancels a run still going, waiting up to `graceMs` for its running steps to finish; a step
   * still running then is abandoned, and stays on record as active (interrupted), for a
   * recovery to run again. Then stops every actor and timer; the run can no longer go on.
   */
  async close(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
    const ended = await Promise.race([this.cancel('the Eventor is closing'), grace]);
    clearTimeout(timer);
    if (ended === 'late') this.abandon(graceMs);
    this.due.disarm();
    // A write that failed has already ended the run with its error; closing still goes on.
    await this.writer.flush()?.catch(() => undefined);
    this.writer.close();
    // The run's actors are children of the supervisor actor in XState's system, and only their parent may stop them.
    const { stopChild } = (this.actor as unknown as { _actorScope: { stopChild(child: unknown): void } })._actorScope;
    for (const task of this.live.values()) stopChild(task.actor);
    for (const actor of this.events.values()) stopChild(actor);
    stopChild(this.lifecycle);
    this.actor.stop();
  }

  // -- events -------------------------------------------------------------------------------

  private enqueue(item: Work): void {
    this.work.push(item);
    if (this.draining) return;
    this.draining = true;
    try {
      for (let i = 0; i < this.work.length; i++) {
        const next = this.work[i];
        const actor = this.eventActor(next.event);
        if (next.kind === 'trigger') actor.send({ type: 'trigger', sequence: next.sequence });
        else actor.send({ type: 'source', source: next.source, sequence: next.sequence });
      }
    } finally {
      this.work = [];
      this.draining = false;
    }
  }

  /**
   * Resolves with the first of `events` to fire (or to have fired) for `sequence`, or with
   * undefined once the run has nothing left to do that could fire one; for code inside a
   * running step, such as a container that runs its children one repeat after the other. It
   * rejects when the run stops. The waiting step (`waiter`) gives its concurrency slot back
   * while it waits, so that the steps it waits for can start.
   */
  waitForEvent(events: readonly string[], sequence: Sequence, waiter?: { step: string; sequence: Sequence }): Promise<string | undefined> {
    const unknown = events.find((event) => !this.plan.events.has(event));
    if (unknown !== undefined) return Promise.reject(new UnknownNameError('event', unknown, 'waitForEvent'));
    const fired = events.find((event) => this.events.get(event)?.getSnapshot().context.fired.has(sequence));
    if (fired !== undefined) return Promise.resolve(fired);
    const task = waiter ? this.live.get(taskKey(waiter.step, waiter.sequence)) : undefined;
    const waited = this.waiters.wait(events.map((event) => taskKey(event, sequence)), task?.step);
    // Its slot is free now: what it waits for may start.
    if (task) this.schedulePump();
    return waited;
  }

  private onEventFired(event: string, sequence: Sequence): void {
    this.waiters.fire(taskKey(event, sequence), event);
    this.writer.add({ v: RECORD_VERSION, kind: 'event', runId: this.runId, recovery: this.recovery, event, sequence, at: Date.now() });
    for (const dependent of this.plan.dependents.get(event) ?? []) this.work.push({ kind: 'source', event: dependent, source: event, sequence });
    for (const assoc of this.plan.assocs.get(event) ?? []) {
      const dueAt = assoc.delay > 0 ? Date.now() + assoc.delay * 1000 : undefined;
      for (const target of assoc.targets) {
        if (target.kind === 'step') this.addTask(this.plan.steps.get(target.name) as StepPlan, sequence, dueAt);
        else if (dueAt === undefined) this.work.push({ kind: 'trigger', event: target.name, sequence });
        else this.addDelay({ event: target.name, sequence, dueAt });
      }
    }
  }

  private fireAll(events: readonly string[], sequence: Sequence): void {
    for (const event of events) this.enqueue({ kind: 'trigger', event, sequence });
  }

  // -- tasks --------------------------------------------------------------------------------

  /** A new task: its machine decides where it starts (waiting, ready, or a recovery's replayed outcome). */
  private addTask(plan: StepPlan, sequence: Sequence, dueAt: number | undefined): void {
    const key = taskKey(plan.name, sequence);
    if (this.live.has(key) || this.finished.has(plan.name, sequence) || this.replayKeys.has(key)) return;
    if (this.options.replay?.has(plan.name, sequence)) {
      // A task a recovery may replay is made on a later launch, a bounded number at a time:
      // replaying a finished run skips task after task without a pause, and would otherwise
      // take the whole run into one turn (and its records into one batch).
      this.replays.push({ plan, sequence, dueAt });
      this.replayKeys.add(key);
      this.scheduleLaunch();
      return;
    }
    this.createTask(plan, sequence, dueAt);
  }

  private createTask(plan: StepPlan, sequence: Sequence, dueAt: number | undefined): void {
    const key = taskKey(plan.name, sequence);
    const input: TaskInput = { step: plan.name, sequence, dueAt, retries: plan.retries, retryDelayMs: plan.retryDelayMs, retryBackoff: plan.retryBackoff, timeoutMs: plan.timeoutMs };
    const earlier = this.options.replay?.take(plan.name, sequence);
    if (earlier) {
      input.earlier = earlier;
      input.replay = plan.spec.recovery;
      if (keptClaims(plan).length > 0) input.reclaims = true;
    }
    const actor = createActor(taskMachine, { input, parent: this.actor, id: `task:${plan.name}/${sequence}` });
    const task = this.track(plan, key, actor);
    actor.start();
    this.settle(task);
  }

  /** Keeps a live task; its actor is started by the caller. */
  private track(plan: StepPlan, key: string, actor: TaskActor): LiveTask {
    const task: LiveTask = { key, step: plan.name, plan, actor, snapshot: actor.getSnapshot(), order: 0, running: false };
    this.live.set(key, task);
    this.markBusy();
    return task;
  }

  /** Sends `event` to a task's machine and acts on what it decided; a refused event changes nothing. */
  private drive(task: LiveTask, event: TaskEvent): boolean {
    const before = task.snapshot;
    task.actor.send(event);
    if (task.actor.getSnapshot() === before) return false;
    this.settle(task);
    return true;
  }

  /** Records the task's new snapshot and acts on its status. */
  private settle(task: LiveTask): void {
    task.snapshot = task.actor.getSnapshot();
    this.recordTask(task);
    this.enter(task);
  }

  /** What the runtime does for a task in each status its machine can reach. */
  private enter(task: LiveTask): void {
    const { snapshot, plan } = task;
    const sequence = snapshot.context.sequence;
    switch (statusOfSnapshot(snapshot)) {
      case 'waiting':
      case 'retrying':
        this.due.push({ dueAt: snapshot.context.dueAt ?? 0, task });
        this.armTimer();
        return;
      case 'ready':
        task.order = this.readyOrder++;
        this.ready.push(task);
        this.fireAll(plan.triggers.ready, sequence);
        return;
      case 'acquiring':
        this.acquiring.push(task);
        return;
      case 'active':
        // A deferred task taken up by a recovery or a continue waits for its token; its code does not run again.
        if (snapshot.context.deferred !== undefined) return this.onDeferred(task);
        return this.onActive(task);
      case 'success':
      case 'failure':
        return this.conclude(task);
    }
  }

  private readonly canStart = (step: string): boolean => {
    const plan = this.plan.steps.get(step) as StepPlan;
    return (this.activeByStep.get(step) ?? 0) - this.waiters.parkedOf(step) < plan.maxConcurrent;
  };

  private hasSlot(): boolean {
    return this.active - this.waiters.parked < this.plan.maxConcurrent;
  }

  /**
   * Offers ready tasks a start while the run is going and the limits allow; each task's machine
   * decides, by whether its resources could be taken, to go active or to wait in `acquiring`.
   * Tasks waiting for resources go first, in the order they began to wait; one that cannot start
   * yet holds its pools for those behind it, so that a task needing much is not starved by many
   * needing little.
   */
  private pump(): void {
    if (!this.session || !this.lifecycle.getSnapshot().matches('running')) return;
    const blocked = new Set<ResourcePool>();
    const isBlocked = (task: LiveTask) => task.plan.acquires.some(([pool]) => blocked.has(pool));
    const block = (task: LiveTask) => task.plan.acquires.forEach(([pool]) => blocked.add(pool));
    if (this.acquiring.length > 0) {
      const waiting = this.acquiring;
      this.acquiring = [];
      const still: LiveTask[] = [];
      for (const task of waiting) {
        // A recovery's skip runs nothing, so only its pools hold it back, not the concurrency limits.
        const replays = task.snapshot.context.replayed !== undefined;
        const claims = replays ? keptClaims(task.plan) : task.plan.acquires;
        const may = replays || (this.hasSlot() && this.canStart(task.plan.name));
        if (may && !isBlocked(task) && acquireAll(claims)) {
          if (!this.drive(task, { type: 'start', at: Date.now(), granted: true })) for (const [pool, amount] of claims) pool.release(amount);
          continue;
        }
        still.push(task);
        block(task);
      }
      this.acquiring = still.concat(this.acquiring);
    }
    while (this.hasSlot() && this.ready.size > 0) {
      const task = this.ready.take(this.canStart);
      if (!task) break;
      const { acquires } = task.plan;
      const granted = acquires.length === 0 || (!isBlocked(task) && acquireAll(acquires));
      this.drive(task, { type: 'start', at: Date.now(), granted });
      if (!granted) block(task);
    }
  }

  /** The machine made the task active: its code starts once that is on record. */
  private onActive(task: LiveTask): void {
    const { plan } = task;
    const { sequence } = task.snapshot.context;
    this.active++;
    this.activeByStep.set(plan.name, (this.activeByStep.get(plan.name) ?? 0) + 1);
    task.running = true;
    task.holding = true;
    if (this.options.logger.enabled('info')) this.taskLogger(task).info(`[ Step ${plan.name}/${sequence} ] Trying to run`);
    this.fireAll(plan.triggers.active, sequence);
    this.launching.push(task);
    this.scheduleLaunch();
  }

  /**
   * One write for every task that went active in this turn, then their code starts. A run
   * whose steps settle at once would otherwise never leave the microtask queue: every so often
   * it lets the event loop turn, so that timers, I/O, the log and the store's catch-up go on.
   */
  private scheduleLaunch(): void {
    if (this.launchScheduled) return;
    this.launchScheduled = true;
    if (++this.launchesThisTurn < LAUNCHES_PER_TURN) queueMicrotask(() => this.actor.send({ type: 'launch' }));
    else
      setImmediate(() => {
        this.launchesThisTurn = 0;
        this.actor.send({ type: 'launch' });
      });
  }

  /** Makes the next replays of a recovery, then starts the code of the tasks that went active, once that is on record. */
  private launch(): void {
    this.launchScheduled = false;
    for (let made = 0; made < REPLAYS_PER_LAUNCH && this.replays.size > 0; made++) {
      const { plan, sequence, dueAt } = this.replays.shift() as PendingReplay;
      this.replayKeys.delete(taskKey(plan.name, sequence));
      this.createTask(plan, sequence, dueAt);
    }
    if (this.replays.size > 0) this.scheduleLaunch();
    if (this.launching.length === 0) return;
    const tasks = this.launching;
    this.launching = [];
    let persisted: Promise<void> | undefined;
    try {
      // Recovery depends on this order: a task is on record as active before its code starts.
      persisted = this.writer.written();
    } catch (error) {
      return this.failRun(error);
    }
    if (persisted) {
      persisted.then(
        () => this.executeAll(tasks),
        () => undefined,
      );
    } else this.executeAll(tasks);
  }

  /**
   * Starts the code of tasks, a bounded number per turn of the event loop: thousands started in
   * one go would hold back, until the last has started, the outcomes of the first.
   */
  private executeAll(tasks: readonly LiveTask[], from = 0): void {
    const end = Math.min(tasks.length, from + EXECUTES_PER_TURN);
    for (let i = from; i < end; i++) {
      const task = tasks[i];
      if (!task.running || this.abandoned || this.broken) continue;
      this.execute(task).catch((error: unknown) => this.failRun(error));
    }
    if (end < tasks.length) setImmediate(() => this.executeAll(tasks, end));
  }

  private async execute(task: LiveTask): Promise<void> {
    const { plan } = task;
    const { sequence, deadlineAt } = task.snapshot.context;
    const executor = this.options.executors.get(plan.executor) as Executor;
    const context = this.contextOf(task);
    let timer: NodeJS.Timeout | undefined;
    if (deadlineAt !== undefined) {
      const controller = this.abortOf(task);
      // Node fires a timer of more than 2^31 - 1 ms at once: a longer timeout waits in several timers.
      const arm = (): void => {
        const left = deadlineAt - Date.now();
        timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(() => controller.abort(new StepTimeoutError(timeoutMessage(plan.name, sequence, plan.timeoutMs as number))), left);
      };
      arm();
    }
    let outcome: Extract<SupervisorEvent, { type: 'task.outcome' }>;
    const where: { host?: string } = {};
    try {
      const result = await executor.run({ step: plan.spec, context, envvarPrefix: this.plan.config.envvarPrefix, timeoutMs: plan.timeoutMs, killGraceMs: this.plan.config.killGrace * 1000, attempt: task.snapshot.context.attempts, where });
      outcome = { type: 'task.outcome', key: task.key, outcome: task.token !== undefined ? 'defer' : 'succeed', result };
    } catch (thrown) {
      outcome = { type: 'task.outcome', key: task.key, outcome: 'fail', error: toErrorRecord(thrown) };
    } finally {
      clearTimeout(timer);
      // Each try gets its own signal: a retry must not start aborted by the try before.
      task.abort = undefined;
    }
    if (where.host !== undefined) outcome.host = where.host;
    this.actor.send(outcome);
  }

  /** A try ended: the machine decides from its outcome whether the task succeeded, failed or retries. */
  private finish(task: LiveTask, outcome: Extract<TaskEvent, { type: 'succeed' | 'fail' }>): void {
    if (this.abandoned || !task.running) return;
    task.token = undefined;
    this.releaseSlot(task);
    this.releaseClaims(task);
    if (outcome.type === 'succeed' && outcome.result !== undefined) {
      try {
        this.options.store.assertStorable(outcome.result);
      } catch (thrown) {
        outcome = { type: 'fail', at: outcome.at, error: toErrorRecord(thrown) };
      }
    }
    if (outcome.type === 'fail') outcome.stopping = !this.lifecycle.getSnapshot().matches('running');
    const attempts = task.snapshot.context.attempts;
    this.drive(task, outcome);
    if (statusOfSnapshot(task.snapshot) === 'retrying') {
      const { error, dueAt } = task.snapshot.context;
      const retries = task.plan.retries;
      const delay = ((dueAt ?? 0) - outcome.at) / 1000;
      this.taskLogger(task).warn(`[ Step ${task.plan.name}/${task.snapshot.context.sequence} ] Try ${attempts} of ${retries + 1} failed (${error?.name}: ${error?.message}); retrying in ${delay} s`);
    }
  }

  /** A try is over: what its step releases goes back to the pools, once. */
  private releaseClaims(task: LiveTask): void {
    if (!task.holding) return;
    task.holding = false;
    for (const [pool, amount] of task.plan.releases) pool.release(amount);
  }

  /** A try's code is over (or deferred): its concurrency slot is free. */
  private releaseSlot(task: LiveTask): void {
    task.running = false;
    this.active--;
    this.activeByStep.set(task.plan.name, (this.activeByStep.get(task.plan.name) ?? 1) - 1);
  }

  /** The machine reached a final status: the task leaves memory but for its status, and its triggers fire. */
  private conclude(task: LiveTask): void {
    const { snapshot, plan } = task;
    const { sequence, skippedFrom, error } = snapshot.context;
    const status = statusOfSnapshot(snapshot);
    this.live.delete(task.key);
    this.finished.set(plan.name, sequence, status);
    if (skippedFrom !== undefined) {
      // A skip: the task takes its earlier outcome without running, and its triggers fire as they did.
      this.skipped++;
      if (this.options.logger.enabled('info')) this.taskLogger(task).info(`[ Step ${plan.name}/${sequence} ] Skipped: ${status} in recovery ${skippedFrom}, outcome kept`);
      for (const [pool, amount] of givenBackClaims(plan)) pool.release(amount);
      this.fireAll(plan.triggers.ready, sequence);
      this.fireAll(plan.triggers.active, sequence);
    }
    if (status === 'success') {
      if (skippedFrom === undefined && this.options.logger.enabled('info')) this.taskLogger(task).info(`[ Step ${plan.name}/${sequence} ] Completed, status: success`);
    } else {
      if (skippedFrom === undefined) this.logFailure(task, error);
      const wasRunning = this.lifecycle.getSnapshot().matches('running');
      this.lifecycle.send({ type: 'failure', handled: plan.handlesFailure, stop: plan.stopOnException, step: plan.name, sequence });
      if (wasRunning && this.lifecycle.getSnapshot().matches('stopping')) {
        this.options.logger.info(`Stopping: step ${plan.name}/${sequence} failed; no new task starts, ${this.active} running task(s) may finish`);
      }
    }
    this.fireAll(plan.triggers[status], sequence);
  }

  private logFailure(task: LiveTask, error: ErrorRecord | undefined): void {
    const logger = this.taskLogger(task);
    const { step, sequence } = task.snapshot.context;
    logger.error(`[ Step ${step}/${sequence} ] Completed, status: failure`);
    if (error) logger.error(error.stack && error.stack.includes(error.message) ? error.stack : `${error.name}: ${error.message}${error.stack ? `\n${error.stack}` : ''}`);
  }

  private taskLogger(task: LiveTask): Logger {
    const { step, sequence } = task.snapshot.context;
    return (task.logger ??= this.options.logger.child(`Task-${step}(${sequence})`, { step, sequence }));
  }

  /** Where a task runs: this host, its agent's, or for a queue task no agent has reported yet, `queue:NAME`. */
  private hostOf(task: LiveTask): string {
    const { spec } = task.plan;
    return task.snapshot.context.host ?? spec.host ?? (spec.queue !== undefined ? `queue:${spec.queue}` : this.options.host);
  }

  private contextOf(task: LiveTask): StepContext {
    const supervisor = this;
    return {
      name: task.plan.name,
      sequence: task.snapshot.context.sequence,
      recovery: this.recovery,
      runId: this.runId,
      host: this.options.host,
      get logger() {
        return supervisor.taskLogger(task);
      },
      get signal() {
        return supervisor.abortOf(task).signal;
      },
      defer() {
        return supervisor.tokenFor(task);
      },
    };
  }

  /** The token of a task whose code defers its completion: made once per try, and only where completions can come. */
  private tokenFor(task: LiveTask): string {
    if (!this.options.canDefer) {
      throw new EventorError(`step '${task.plan.name}' called defer(), and this run has no NATS to receive its completion: give config.nats (or EVENTOR_NATS_URL)`);
    }
    if (!task.running) throw new EventorError(`step '${task.plan.name}' called defer() after its code returned: call it while the step runs, and return the token`);
    const token = (task.token ??= deferToken(this.runId));
    return token;
  }

  /** The code returned after defer(): the machine keeps the token, and the task gives its slot back while it waits. */
  private deferTask(task: LiveTask): void {
    if (this.abandoned || !task.running) return;
    const token = task.token as string;
    task.token = undefined;
    if (!this.drive(task, { type: 'defer', at: Date.now(), token })) return;
    this.releaseSlot(task);
  }

  /** A deferred task, new or taken up: it waits for its token, and for its deadline if it has one. */
  private onDeferred(task: LiveTask): void {
    const { deferred, deadlineAt, step, sequence } = task.snapshot.context;
    this.deferred.set(deferred as string, task);
    this.taskLogger(task).info(`[ Step ${step}/${sequence} ] Deferred: waits for eventor complete ${deferred}`);
    if (deadlineAt !== undefined) {
      this.due.push({ dueAt: deadlineAt + 1, task });
      this.armTimer();
    }
  }

  /** Whether `token` is a deferred task of this run that waits for its completion. */
  awaitsCompletion(token: string): boolean {
    return this.deferred.has(token);
  }

  /** Completes a deferred task from outside; the machine decides what its outcome makes of it. */
  complete(token: string, outcome: { ok: boolean; result?: unknown; error?: ErrorRecord }): void {
    this.actor.send({ type: 'task.complete', token, ...outcome });
  }

  private completeDeferred(task: LiveTask, outcome: Extract<TaskEvent, { type: 'succeed' | 'fail' }>): void {
    this.deferred.delete(task.snapshot.context.deferred as string);
    this.releaseClaims(task);
    if (outcome.type === 'succeed' && outcome.result !== undefined) {
      try {
        this.options.store.assertStorable(outcome.result);
      } catch (thrown) {
        outcome = { type: 'fail', at: outcome.at, error: toErrorRecord(thrown) };
      }
    }
    if (outcome.type === 'fail') outcome.stopping = !this.lifecycle.getSnapshot().matches('running');
    this.drive(task, outcome);
  }

  /** The task's abort controller for this try, made on first use (most steps never ask). */
  private abortOf(task: LiveTask): AbortController {
    if (!task.abort) {
      task.abort = new AbortController();
      if (this.cancelReason !== undefined) task.abort.abort(new CancelledError(this.cancelReason));
    }
    return task.abort;
  }

  /**
   * Writes the task machine's persisted snapshot. A store that keeps records in this process
   * gets the snapshot as it is: XState's persisting walks the context, results included, by
   * recursion, and a result kept in memory may be deep or hold cycles; what a durable store
   * gets has passed `assertStorable` first.
   */
  private recordTask(task: LiveTask): void {
    const at = Date.now();
    const snapshot = task.snapshot;
    const persisted = (this.options.store.durable ? task.actor.getPersistedSnapshot() : snapshot) as TaskSnapshot;
    const record: TaskRecord = {
      v: RECORD_VERSION,
      kind: 'task',
      runId: this.runId,
      recovery: this.recovery,
      at,
      status: persisted.status as TaskRecord['status'],
      value: persisted.value as TaskStatus,
      context: persisted.context,
      children: {},
      historyValue: {},
      output: undefined,
      error: undefined,
    };
    this.writer.add(record);
    if (this.options.listeners.size > 0) {
      const { step, sequence, result, error } = snapshot.context;
      const status = statusOfSnapshot(snapshot);
      const transition: TransitionRecord = { runId: this.runId, step, sequence, status, result: status === 'success' ? result : undefined, error: isFinal(status) || status === 'retrying' ? error : undefined, host: this.hostOf(task), at };
      if (snapshot.context.deferred !== undefined) transition.deferred = snapshot.context.deferred;
      const { acquires, releases } = task.plan;
      if (acquires.length > 0 || releases.length > 0) transition.pools = Object.fromEntries([...acquires, ...releases].map(([pool]) => [pool.name, pool.state()]));
      for (const listener of this.options.listeners) {
        try {
          listener(transition);
        } catch (thrown) {
          this.options.logger.warn(`a subscribe() listener threw, and was ignored: ${toErrorRecord(thrown).message}`);
        }
      }
    }
  }

  // -- delays -------------------------------------------------------------------------------

  private addDelay(trigger: DelayedTrigger): void {
    const record: StoreRecord = { v: RECORD_VERSION, kind: 'delay', runId: this.runId, recovery: this.recovery, ...trigger, done: false };
    this.writer.add(record);
    this.due.push({ dueAt: trigger.dueAt, trigger });
    this.armTimer();
  }

  /** Moves everything due by `now` on: each task's machine is told, delayed events fire. */
  private releaseDue(now: number): void {
    // A stopping run starts nothing, so its delays stay waiting, on record for a recovery.
    if (!this.lifecycle.getSnapshot().matches('running')) return;
    for (const item of this.due.takeDue(now)) {
      this.markBusy();
      if ('task' in item) {
        this.drive(item.task, { type: 'due', at: now });
      } else {
        const { event, sequence, dueAt } = item.trigger;
        this.writer.add({ v: RECORD_VERSION, kind: 'delay', runId: this.runId, recovery: this.recovery, event, sequence, dueAt, done: true });
        this.enqueue({ kind: 'trigger', event, sequence });
      }
    }
  }

  /** Keeps the timer for the earliest delay, and only while a `run()` is going. */
  private armTimer(): void {
    if (this.session) this.due.arm();
    else this.due.disarm();
  }

  // -- the end of a run ---------------------------------------------------------------------

  private markBusy(): void {
    if (this.session) this.session.busy = true;
  }

  /** Ends the current `run()` once nothing is active and nothing can start. */
  private checkSettled(): void {
    const session = this.session;
    if (!session || this.draining) return;
    // Replays still to make keep the run going.
    if (this.replays.size > 0) return;
    if (this.active > 0) {
      // Every active step waits for an event and nothing else can move: none of them ever will.
      if (this.waiters.size > 0 && !this.lifecycle.getSnapshot().matches('running')) {
        this.waiters.releaseAll('the run stopped');
      } else if (this.waiters.size >= this.active && this.ready.size === 0 && this.acquiring.length === 0 && this.due.size === 0 && !this.pumpScheduled && !this.launchScheduled) {
        this.waiters.releaseAll(undefined);
      }
      return;
    }
    const running = this.lifecycle.getSnapshot().matches('running');
    if (running && this.ready.size > 0) return;
    // A deferred task is work in progress elsewhere: the run waits for its completion (or its deadline).
    if (running && this.deferred.size > 0) return;
    // So is a task waiting for a shared pool: the units it waits for are held by other runs, which give them back.
    if (running && this.acquiring.some((task) => task.plan.acquires.some(([pool]) => pool.shared))) return;
    if (running && this.due.size > 0) {
      if (session.busy) {
        session.loops++;
        session.busy = false;
      }
      if (session.loops < session.maxLoops) return this.armTimer();
    }
    this.settleRun();
  }

  private settleRun(): void {
    const session = this.session as Session;
    this.session = undefined;
    this.due.disarm();
    this.lifecycle.send({ type: 'settle' });
    const { unhandledFailures, stopReason } = this.lifecycle.getSnapshot().context;
    const ok = unhandledFailures === 0 && stopReason === undefined;
    const outstanding = this.countTodos().total;
    this.recordRun(stopReason !== undefined && unhandledFailures === 0 ? 'stopped' : !ok ? 'failure' : outstanding > 0 ? 'waiting' : 'success');
    if (this.skipped > 0) this.options.logger.info(`Skipped ${this.skipped} task(s) whose earlier outcome the recovery kept`);
    this.skipped = 0;
    this.options.logger.info(`Processing finished with: ${ok ? 'success' : 'failure'}; outstanding tasks: ${outstanding}${this.pausedNote()}`);
    this.options.logger.flush?.();
    const flushed = this.writer.flush();
    if (flushed) flushed.then(() => session.resolve(ok), session.reject);
    else session.resolve(ok);
  }

  /** A pass that ends with delays still counting is paused, not over: say how many, when the next is due, and how to go on. */
  private pausedNote(): string {
    if (this.due.size === 0 || this.cancelReason !== undefined) return '';
    let next = Infinity;
    for (const item of this.due) next = Math.min(next, item.dueAt);
    const seconds = Math.max(0, Math.round((next - Date.now()) / 100) / 10);
    const at = new Date(next).toISOString().slice(11, 19);
    return `; paused with ${this.due.size} delay(s) pending, the next due at ${at} UTC (in ${seconds} s): run it again in continue mode to go on`;
  }

  private recordRun(status: RunStatus): void {
    const counts: TaskCounts = {};
    for (const finished of this.finished.values()) counts[finished] = (counts[finished] ?? 0) + 1;
    for (const task of this.live.values()) {
      const value = statusOfSnapshot(task.snapshot);
      counts[value] = (counts[value] ?? 0) + 1;
    }
    this.writer.add({ ...this.options.run, status, counts, updatedAt: Date.now() });
  }

  /** An error of the runtime itself (a store that cannot write): the run ends with it, once. */
  private failRun(error: unknown): void {
    if (this.broken) return;
    this.broken = true;
    const failure = error instanceof EventorError ? error : new StoreError(`the run cannot go on: ${toErrorRecord(error).message}`, { cause: error });
    this.options.logger.error(`the run cannot go on: ${failure.message}`);
    this.lifecycle.send({ type: 'cancel', reason: 'runtime error' });
    for (const task of this.live.values()) task.abort?.abort(new CancelledError('the run cannot go on'));
    const session = this.session;
    if (!session) return;
    this.session = undefined;
    this.due.disarm();
    session.reject(failure);
  }

  /**
   * Node's event loop emptied while tasks were still active: nothing is left that could settle
   * their promises, so run() can never end by itself. It ends now, naming them, rather than let
   * the process exit as if the run had finished.
   */
  private stalled(): void {
    const session = this.session;
    if (!session) return;
    const stuck = [...this.live.values()].filter((task) => task.running).map((task) => `${task.plan.name}/${task.snapshot.context.sequence}`);
    const error = new RunStalledError(
      `run ${this.runId} cannot finish: ${stuck.length} step(s) still active (${stuck.join(', ') || 'none'}) await promises that nothing is left to settle, and Node's event loop emptied. ` +
        'Make each step settle (resolve or reject), or give it config.timeout; recover the run to run these steps again',
    );
    this.options.logger.error(error.message);
    this.session = undefined;
    this.due.disarm();
    this.lifecycle.send({ type: 'cancel', reason: 'stalled' });
    this.recordRun('failure');
    const flushed = this.writer.flush();
    if (flushed) flushed.then(() => session.reject(error), session.reject);
    else session.reject(error);
  }

  /** close() gave up on the steps still running: they stay on record as active (interrupted), and run() resolves false. */
  private abandon(graceMs: number): void {
    this.abandoned = true;
    for (const task of this.live.values()) {
      if (!task.running) continue;
      this.taskLogger(task).warn(`[ Step ${task.plan.name}/${task.snapshot.context.sequence} ] Still running ${graceMs / 1000} s after close() asked it to stop: abandoned, and on record as active (interrupted); recover the run to run it again`);
    }
    const session = this.session;
    if (!session) return;
    this.session = undefined;
    this.recordRun('stopped');
    session.resolve(false);
  }
}

/** Per pool, what a task's run keeps (acquired and not given back); `acquires` and `releases` may name different pools. */
function netClaims(plan: StepPlan): Map<ResourcePool, number> {
  const net = new Map<ResourcePool, number>();
  for (const [pool, amount] of plan.acquires) net.set(pool, (net.get(pool) ?? 0) + amount);
  for (const [pool, amount] of plan.releases) net.set(pool, (net.get(pool) ?? 0) - amount);
  return net;
}

/** What a skipped task takes again: what its run acquired and kept. */
function keptClaims(plan: StepPlan): [ResourcePool, number][] {
  return [...netClaims(plan)].filter(([, amount]) => amount > 0);
}

/** What a skipped task gives back: what its run released beyond what it acquired (an unlock step). */
function givenBackClaims(plan: StepPlan): [ResourcePool, number][] {
  return [...netClaims(plan)].filter(([, amount]) => amount < 0).map(([pool, amount]) => [pool, -amount]);
}
