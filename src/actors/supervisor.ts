import { createActor, type Actor } from 'xstate';
import { eventLogic } from '../machines/event.machine.js';
import { supervisorMachine } from '../machines/supervisor.machine.js';
import { taskMachine, type TaskEvent } from '../machines/task.machine.js';
import { CancelledError, EventorError, RunStalledError, StepTimeoutError, StoreError, UnknownNameError, toErrorRecord, type ErrorRecord } from '../model/errors.js';
import { RECORD_VERSION, type RunRecord, type RunStatus, type StoreRecord, type TaskCounts, type TaskRecord, type TransitionRecord } from '../model/records.js';
import type { Sequence } from '../model/spec.js';
import { StepReplay, isFinal, type TaskStatus } from '../model/status.js';
import type { Logger } from '../model/logger.js';
import type { RecoveryState, Store } from '../store/store.js';
import { Delays, MAX_TIMER_MS } from './delays.js';
import { EventWaiters } from './event-waiters.js';
import type { Executor } from '../executors/executor.js';
import type { FlowPlan, StepPlan } from './flow-plan.js';
import { ReadyQueue } from './ready-queue.js';
import { acquireAll, type ResourcePool } from './resource-pool.js';
import type { StepContext } from '../executors/step-context.js';
import { StoreWriter } from './store-writer.js';

/** A listener of task transitions, as `subscribe()` registers it. */
export type TransitionListener = (transition: TransitionRecord) => void;

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
  replay?: ReadonlyMap<string, TaskRecord>;
  store: Store;
  logger: Logger;
  host: string;
  executors: ReadonlyMap<string, Executor>;
  listeners: ReadonlySet<TransitionListener>;
}

type TaskActor = Actor<typeof taskMachine>;
type EventActor = Actor<typeof eventLogic>;

/** A task that has not reached a final status: its actor, and where it stands in the queues. */
interface LiveTask {
  readonly key: string;
  readonly plan: StepPlan;
  readonly step: string;
  readonly sequence: Sequence;
  readonly actor: TaskActor;
  /** When it became ready; the ready queue starts tasks in this order. */
  order: number;
  dueAt?: number;
  abort?: AbortController;
  /** Made the first time the task logs. */
  logger?: Logger;
  /** A recovery's skip that waits for the resources its earlier run held, to take them again. */
  replay?: TaskRecord;
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

/**
 * Owns one run: spawns the event and task actors, starts ready tasks within the limits,
 * keeps delays on one timer, writes every transition to the store and decides when a
 * `run()` is over. Finished task actors are stopped and dropped; only their final status
 * stays in memory, so a run's memory follows its live work, not its history.
 */
export class Supervisor {
  readonly runId: string;
  private readonly lifecycle = createActor(supervisorMachine).start();
  private readonly events = new Map<string, EventActor>();
  private readonly live = new Map<string, LiveTask>();
  private readonly finished = new Map<string, TaskStatus>();
  private readonly ready = new ReadyQueue<LiveTask>();
  /** Tasks waiting for resources, in the order they began to wait. */
  private acquiring: LiveTask[] = [];
  private readonly due = new Delays<DueItem>(() => this.onTimer());
  private readonly activeByStep = new Map<string, number>();
  private readonly writer: StoreWriter;
  private active = 0;
  private readyOrder = 0;
  private work: Work[] = [];
  private draining = false;
  private session: Session | undefined;
  private cancelReason: string | undefined;
  private pumpScheduled = false;
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

  constructor(
    private readonly plan: FlowPlan,
    private readonly options: SupervisorOptions,
  ) {
    this.runId = options.run.runId;
    this.recovery = options.run.recovery;
    this.writer = new StoreWriter(options.store, (error) => this.failRun(error));
  }

  /** The actor of an event, spawned the first time the event is triggered or one of its sources fires. */
  private eventActor(name: string): EventActor {
    let actor = this.events.get(name);
    if (!actor) {
      actor = createActor(eventLogic, { input: { name, expr: this.plan.events.get(name)?.expr } });
      actor.on('fired', ({ sequence }) => this.onEventFired(name, sequence));
      this.events.set(name, actor.start());
    }
    return actor;
  }

  /** Fires `event` for `sequence`; its consequences join the run (and wait for `run()` if none is going). */
  trigger(event: string, sequence: Sequence): void {
    if (!this.plan.events.has(event)) throw new UnknownNameError('event', event, 'triggerEvent');
    this.markBusy();
    this.enqueue({ kind: 'trigger', event, sequence });
    this.schedulePump();
  }

  /**
   * Starts ready tasks on a later microtask. `trigger` is called by users and by running steps:
   * starting code inside that call would nest each step inside the one that triggered it.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
      this.checkSettled();
    });
  }

  /**
   * Runs until nothing is ready, active or (unless `maxLoops` ends it) waiting on a delay,
   * first firing `triggers`: inside the run, so that a failure they replay counts in it.
   */
  run(maxLoops: number, triggers: readonly { event: string; sequence: Sequence }[] = []): Promise<boolean> {
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
    this.lifecycle.send({ type: 'run' });
    this.recordRun('running');
    for (const { event, sequence } of triggers) this.trigger(event, sequence);
    this.releaseDue(Date.now());
    this.pump();
    this.checkSettled();
    return promise;
  }

  /**
   * Stops the run: no new task starts, active tasks see their `signal` abort and may finish.
   * Resolves when the current `run()` has ended; the run can be recovered later.
   */
  async cancel(reason: string): Promise<void> {
    const session = this.session;
    if (!session) return;
    this.cancelReason ??= reason;
    this.lifecycle.send({ type: 'cancel', reason });
    this.options.logger.info(`Cancelling: ${reason}; no new task starts, ${this.active} running task(s) are signalled`);
    for (const task of this.live.values()) task.abort?.abort(new CancelledError(reason));
    this.checkSettled();
    await session.ended;
  }

  /**
   * Takes up a recovery where it stopped (continue mode): finished tasks stay finished, events
   * that fired stay fired, delays keep their due times, and tasks that were ready or active
   * (interrupted) are ready again.
   */
  restore(state: RecoveryState): void {
    for (const record of [...state.tasks].sort((a, b) => a.at - b.at)) {
      const plan = this.plan.steps.get(record.step) as StepPlan;
      const key = taskKey(record.step, record.sequence);
      if (isFinal(record.status)) {
        this.finished.set(key, record.status);
        // A failure nothing handled still counts: continuing does not make a failed run succeed.
        if (record.status === 'failure') this.lifecycle.send({ type: 'failure', handled: plan.handlesFailure, stop: plan.stopOnException, step: record.step, sequence: record.sequence });
        continue;
      }
      const waits = (record.status === 'waiting' || record.status === 'retrying') && record.dueAt !== undefined;
      const task = this.spawnTask(plan, record.sequence, waits ? record.dueAt : undefined, record.attempts);
      if (waits) this.due.push({ dueAt: record.dueAt as number, task });
      else {
        if (record.status === 'active') this.options.logger.warn(`[ Step ${record.step}/${record.sequence} ] was active when the run stopped; it runs again`);
        this.onReady(task);
      }
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
    for (const task of this.live.values()) byStep[task.step] = (byStep[task.step] ?? 0) + 1;
    let total = this.live.size;
    for (const item of this.due) if ('trigger' in item) total++;
    return { total, byStep };
  }

  /** The final status of a task, if it has one. */
  statusOf(step: string, sequence: Sequence): TaskStatus | undefined {
    const key = taskKey(step, sequence);
    return this.finished.get(key) ?? (this.live.get(key)?.actor.getSnapshot().value as TaskStatus | undefined);
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
    for (const task of this.live.values()) task.actor.stop();
    for (const actor of this.events.values()) actor.stop();
    this.lifecycle.stop();
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

  private addTask(plan: StepPlan, sequence: Sequence, dueAt: number | undefined): void {
    const key = taskKey(plan.name, sequence);
    if (this.live.has(key) || this.finished.has(key)) return;
    const previous = this.options.replay?.get(key);
    if (previous) {
      const replay = plan.spec.recovery[previous.status] ?? (previous.status === 'success' ? StepReplay.skip : StepReplay.rerun);
      // Only a finished task has an outcome to replay; one that never finished runs again.
      if (replay === StepReplay.skip && isFinal(previous.status)) return this.replayTask(plan, sequence, previous);
      // A delay that was already counting keeps its due time.
      if (dueAt !== undefined && previous.dueAt !== undefined) dueAt = previous.dueAt;
    }
    const task = this.spawnTask(plan, sequence, dueAt);
    if (dueAt !== undefined) {
      this.recordTask(task, 'waiting');
      this.due.push({ dueAt: dueAt as number, task });
      this.armTimer();
    } else {
      this.onReady(task);
    }
  }

  /**
   * Spawns a task actor from a resolved state rather than the initial one: new tasks and tasks
   * restored from the store take the same path, and no eventless transition picks the state.
   */
  private spawnTask(plan: StepPlan, sequence: Sequence, dueAt: number | undefined, attempts = 0): LiveTask {
    const key = taskKey(plan.name, sequence);
    const input = { step: plan.name, sequence, dueAt };
    const snapshot = taskMachine.resolveState({ value: dueAt === undefined ? 'ready' : 'waiting', context: { ...input, attempts } });
    const actor = createActor(taskMachine, { snapshot, input }).start();
    const task: LiveTask = { key, plan, step: plan.name, sequence, actor, order: 0, dueAt };
    this.live.set(key, task);
    this.markBusy();
    return task;
  }

  /**
   * A recovery's skip: the task takes its earlier outcome without running, and its triggers fire
   * as they did. It keeps what its earlier run kept of its pools (a lock step whose `releases` is
   * `[]` holds its lock again, waiting for it like any task), so that no other step enters what
   * the lock guards before the step that gives it back has run; and gives back what it gave back.
   */
  private replayTask(plan: StepPlan, sequence: Sequence, previous: TaskRecord): void {
    const task = this.spawnTask(plan, sequence, undefined);
    this.skipped++;
    if (this.options.logger.enabled('info')) {
      this.taskLogger(task).info(`[ Step ${task.step}/${task.sequence} ] Skipped: ${previous.status} in recovery ${previous.recovery}, outcome kept`);
    }
    const kept = keptClaims(plan);
    if (kept.length > 0 && (this.acquiring.some((waiting) => waiting.plan.acquires.some(([pool]) => kept.some(([held]) => held === pool))) || !acquireAll(kept))) {
      task.replay = previous;
      this.acquiring.push(task);
      return;
    }
    this.concludeReplay(task, previous);
  }

  /** Ends a recovery's skip once it holds again what its earlier run kept. */
  private concludeReplay(task: LiveTask, previous: TaskRecord): void {
    for (const [pool, amount] of givenBackClaims(task.plan)) pool.release(amount);
    this.fireAll(task.plan.triggers.ready, task.sequence);
    this.fireAll(task.plan.triggers.active, task.sequence);
    const status = previous.status === 'failure' ? 'failure' : 'success';
    this.conclude(task, { type: 'skip', status, result: previous.result, error: previous.error });
    this.schedulePump();
  }

  private onReady(task: LiveTask): void {
    task.order = this.readyOrder++;
    this.recordTask(task, 'ready');
    this.ready.push(task);
    this.fireAll(task.plan.triggers.ready, task.sequence);
  }

  private readonly canStart = (step: string): boolean => {
    const plan = this.plan.steps.get(step) as StepPlan;
    return (this.activeByStep.get(step) ?? 0) - this.waiters.parkedOf(step) < plan.maxConcurrent;
  };

  /**
   * Starts ready tasks while the run is going and the limits allow. Tasks waiting for resources
   * go first, in the order they began to wait; one that cannot start yet holds its pools for
   * those behind it, so that a task needing much is not starved by many needing little.
   */
  private pump(): void {
    if (!this.session || !this.lifecycle.getSnapshot().matches('running')) return;
    const blocked = new Set<ResourcePool>();
    const isBlocked = (task: LiveTask) => task.plan.acquires.some(([pool]) => blocked.has(pool));
    const block = (task: LiveTask) => task.plan.acquires.forEach(([pool]) => blocked.add(pool));
    if (this.acquiring.length > 0) {
      const still: LiveTask[] = [];
      for (const task of this.acquiring) {
        if (task.replay) {
          // A skip runs nothing, so only its pools hold it back, not the concurrency limits.
          if (!isBlocked(task) && acquireAll(keptClaims(task.plan))) this.concludeReplay(task, task.replay);
          else {
            still.push(task);
            block(task);
          }
        } else if (this.active - this.waiters.parked < this.plan.maxConcurrent && this.canStart(task.step) && !isBlocked(task) && acquireAll(task.plan.acquires)) this.start(task);
        else {
          still.push(task);
          block(task);
        }
      }
      this.acquiring = still;
    }
    while (this.active - this.waiters.parked < this.plan.maxConcurrent && this.ready.size > 0) {
      const task = this.ready.take(this.canStart);
      if (!task) break;
      if (task.plan.acquires.length > 0 && (isBlocked(task) || !acquireAll(task.plan.acquires))) {
        task.actor.send({ type: 'wait' });
        this.recordTask(task, 'acquiring');
        this.acquiring.push(task);
        block(task);
        continue;
      }
      this.start(task);
    }
  }

  private start(task: LiveTask): void {
    this.active++;
    this.activeByStep.set(task.step, (this.activeByStep.get(task.step) ?? 0) + 1);
    task.actor.send({ type: 'start' });
    this.recordTask(task, 'active');
    if (this.options.logger.enabled('info')) this.taskLogger(task).info(`[ Step ${task.step}/${task.sequence} ] Trying to run`);
    this.fireAll(task.plan.triggers.active, task.sequence);
    this.execute(task).catch((error: unknown) => this.failRun(error));
  }

  private async execute(task: LiveTask): Promise<void> {
    // Recovery depends on this order: a task is on record as active before its code starts.
    const persisted = this.writer.written();
    if (persisted) await persisted;
    const { plan } = task;
    // Only a step with a timeout needs the clock read: the chain's hot path stays without it.
    const startedAt = plan.timeoutMs === undefined ? 0 : performance.now();
    const executor = this.options.executors.get(plan.executor) as Executor;
    const context = this.contextOf(task);
    let timer: NodeJS.Timeout | undefined;
    if (plan.timeoutMs !== undefined) {
      const controller = this.abortOf(task);
      const timeoutMs = plan.timeoutMs;
      const deadline = Date.now() + timeoutMs;
      // Node fires a timer of more than 2^31 - 1 ms at once: a longer timeout waits in several timers.
      const arm = (): void => {
        const left = deadline - Date.now();
        timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(() => controller.abort(new StepTimeoutError(timeoutMessage(task.step, task.sequence, timeoutMs))), left);
      };
      arm();
    }
    let outcome: TaskEvent;
    try {
      const result = await executor.run({ step: plan.spec, context, envvarPrefix: this.plan.config.envvarPrefix, timeoutMs: plan.timeoutMs, killGraceMs: this.plan.config.killGrace * 1000 });
      // A step that blocked the thread past its deadline kept the timer from firing: the clock decides.
      if (plan.timeoutMs !== undefined && performance.now() - startedAt > plan.timeoutMs) throw new StepTimeoutError(timeoutMessage(task.step, task.sequence, plan.timeoutMs));
      outcome = { type: 'succeed', result };
    } catch (thrown) {
      outcome = { type: 'fail', error: toErrorRecord(thrown) };
    } finally {
      clearTimeout(timer);
      // Each try gets its own signal: a retry must not start aborted by the try before.
      task.abort = undefined;
    }
    this.finish(task, outcome);
  }

  private finish(task: LiveTask, outcome: TaskEvent): void {
    if (this.abandoned) return;
    this.active--;
    this.activeByStep.set(task.step, (this.activeByStep.get(task.step) ?? 1) - 1);
    for (const [pool, amount] of task.plan.releases) pool.release(amount);
    if (outcome.type === 'succeed' && outcome.result !== undefined) {
      try {
        this.options.store.assertStorable(outcome.result);
      } catch (thrown) {
        outcome = { type: 'fail', error: toErrorRecord(thrown) };
      }
    }
    const attempts = task.actor.getSnapshot().context.attempts;
    if (outcome.type === 'fail' && attempts <= task.plan.retries && this.lifecycle.getSnapshot().matches('running')) this.retry(task, outcome.error, attempts);
    else this.conclude(task, outcome);
    this.pump();
    this.checkSettled();
  }

  /** A failed try with tries left: the task waits in `retrying`, then is ready again. */
  private retry(task: LiveTask, error: ErrorRecord, attempts: number): void {
    const { plan } = task;
    const delayMs = plan.retryDelayMs * plan.retryBackoff ** (attempts - 1);
    const retryAt = Date.now() + delayMs;
    task.actor.send({ type: 'fail', error, retryAt });
    task.dueAt = retryAt;
    this.recordTask(task, 'retrying', undefined, error);
    this.taskLogger(task).warn(`[ Step ${task.step}/${task.sequence} ] Try ${attempts} of ${plan.retries + 1} failed (${error.name}: ${error.message}); retrying in ${delayMs / 1000} s`);
    this.due.push({ dueAt: retryAt, task });
    this.armTimer();
  }

  /** Takes a task to its final status: records it, lets it go from memory, fires its triggers. */
  private conclude(task: LiveTask, outcome: TaskEvent): void {
    task.actor.send(outcome);
    const snapshot = task.actor.getSnapshot();
    const status = snapshot.value as TaskStatus;
    this.live.delete(task.key);
    this.finished.set(task.key, status);
    task.actor.stop();
    this.recordTask(task, status, snapshot.context.result, snapshot.context.error, snapshot.context.skipped);
    if (status === 'success') {
      if (!snapshot.context.skipped && this.options.logger.enabled('info')) this.taskLogger(task).info(`[ Step ${task.step}/${task.sequence} ] Completed, status: success`);
    } else {
      if (!snapshot.context.skipped) this.logFailure(task, snapshot.context.error);
      const wasRunning = this.lifecycle.getSnapshot().matches('running');
      this.lifecycle.send({ type: 'failure', handled: task.plan.handlesFailure, stop: task.plan.stopOnException, step: task.step, sequence: task.sequence });
      if (wasRunning && this.lifecycle.getSnapshot().matches('stopping')) {
        this.options.logger.info(`Stopping: step ${task.step}/${task.sequence} failed; no new task starts, ${this.active} running task(s) may finish`);
      }
    }
    this.fireAll(task.plan.triggers[status], task.sequence);
  }

  private logFailure(task: LiveTask, error: ErrorRecord | undefined): void {
    const logger = this.taskLogger(task);
    logger.error(`[ Step ${task.step}/${task.sequence} ] Completed, status: failure`);
    if (error) logger.error(error.stack && error.stack.includes(error.message) ? error.stack : `${error.name}: ${error.message}${error.stack ? `\n${error.stack}` : ''}`);
  }

  private taskLogger(task: LiveTask): Logger {
    return (task.logger ??= this.options.logger.child(`Task-${task.step}(${task.sequence})`, { step: task.step, sequence: task.sequence }));
  }

  private contextOf(task: LiveTask): StepContext {
    const supervisor = this;
    return {
      name: task.step,
      sequence: task.sequence,
      recovery: this.recovery,
      runId: this.runId,
      host: this.options.host,
      get logger() {
        return supervisor.taskLogger(task);
      },
      get signal() {
        return supervisor.abortOf(task).signal;
      },
    };
  }

  /** The task's abort controller for this try, made on first use (most steps never ask). */
  private abortOf(task: LiveTask): AbortController {
    if (!task.abort) {
      task.abort = new AbortController();
      if (this.cancelReason !== undefined) task.abort.abort(new CancelledError(this.cancelReason));
    }
    return task.abort;
  }

  private recordTask(task: LiveTask, status: TaskStatus, result?: unknown, error?: ErrorRecord, skipped?: boolean): void {
    const at = Date.now();
    const record: TaskRecord = {
      v: RECORD_VERSION,
      kind: 'task',
      runId: this.runId,
      recovery: this.recovery,
      step: task.step,
      sequence: task.sequence,
      status,
      attempts: task.actor.getSnapshot().context.attempts,
      at,
    };
    if (task.dueAt !== undefined) record.dueAt = task.dueAt;
    if (result !== undefined) record.result = result;
    if (error !== undefined) record.error = error;
    if (skipped) record.skipped = true;
    this.writer.add(record);
    if (this.options.listeners.size > 0) {
      const transition: TransitionRecord = { runId: this.runId, step: task.step, sequence: task.sequence, status, result, error, host: this.options.host, at };
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

  /** Moves everything due by `now` on: tasks become ready, delayed events fire. */
  private releaseDue(now: number): void {
    // A stopping run starts nothing, so its delays stay waiting, on record for a recovery.
    if (!this.lifecycle.getSnapshot().matches('running')) return;
    for (const item of this.due.takeDue(now)) {
      this.markBusy();
      if ('task' in item) {
        const task = item.task;
        task.actor.send({ type: 'due' });
        this.onReady(task);
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

  private onTimer(): void {
    this.releaseDue(Date.now());
    this.armTimer();
    this.pump();
    this.checkSettled();
  }

  // -- the end of a run ---------------------------------------------------------------------

  private markBusy(): void {
    if (this.session) this.session.busy = true;
  }

  /** Ends the current `run()` once nothing is active and nothing can start. */
  private checkSettled(): void {
    const session = this.session;
    if (!session || this.draining) return;
    if (this.active > 0) {
      // Every active step waits for an event and nothing else can move: none of them ever will.
      if (this.waiters.size > 0 && !this.lifecycle.getSnapshot().matches('running')) {
        this.waiters.releaseAll('the run stopped');
      } else if (this.waiters.size >= this.active && this.ready.size === 0 && this.acquiring.length === 0 && this.due.size === 0 && !this.pumpScheduled) {
        this.waiters.releaseAll(undefined);
      }
      return;
    }
    const running = this.lifecycle.getSnapshot().matches('running');
    if (running && this.ready.size > 0) return;
    if (running && this.due.size > 0) {
      if (session.busy) {
        session.loops++;
        session.busy = false;
      }
      if (session.loops < session.maxLoops) return this.armTimer();
    }
    this.settle();
  }

  private settle(): void {
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
    this.options.logger.info(`Processing finished with: ${ok ? 'success' : 'failure'}; outstanding tasks: ${outstanding}`);
    const flushed = this.writer.flush();
    if (flushed) flushed.then(() => session.resolve(ok), session.reject);
    else session.resolve(ok);
  }

  private recordRun(status: RunStatus): void {
    const counts: TaskCounts = {};
    for (const finished of this.finished.values()) counts[finished] = (counts[finished] ?? 0) + 1;
    for (const task of this.live.values()) {
      const value = task.actor.getSnapshot().value as TaskStatus;
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
    const stuck = [...this.live.values()].filter((task) => task.actor.getSnapshot().value === 'active').map((task) => `${task.step}/${task.sequence}`);
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
      if (task.actor.getSnapshot().value !== 'active') continue;
      this.taskLogger(task).warn(`[ Step ${task.step}/${task.sequence} ] Still running ${graceMs / 1000} s after close() asked it to stop: abandoned, and on record as active (interrupted); recover the run to run it again`);
    }
    const session = this.session;
    if (!session) return;
    this.session = undefined;
    this.recordRun('stopped');
    session.resolve(false);
  }
}

const timeoutMessage = (step: string, sequence: Sequence, timeoutMs: number) =>
  `step '${step}' (sequence ${sequence}) timed out after ${timeoutMs / 1000} s: give it a longer config.timeout, or make it faster`;

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
