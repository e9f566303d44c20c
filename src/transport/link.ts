import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { NatsSettings } from '../model/config.js';
import { AgentLostError, AgentTimeoutError, CancelledError, StepCodeError, StepTimeoutError, TransportError, toErrorRecord, type ErrorRecord } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import type { Sequence, StepSpec } from '../model/spec.js';
import type { Executor, TaskRun } from '../executors/executor.js';
import { defaultExecutorKind } from '../executors/executor.js';
import { errorFromRecord } from '../executors/modules.js';
import { connectNats, ensureConsumer, ensureStreams, shownServers, subjectsOf } from './connection.js';
import { StreamPublisher } from './publisher.js';
import { decodeMessage, encodeMessage, tryId, tryToken, type BeatMessage, type OutcomeMessage, type RemoteStep, type Subjects, type TaskMessage } from './protocol.js';

/** What the link knows of an agent, from its hellos and heartbeats. */
interface AgentState {
  host: string;
  queues: string[];
  running: Set<string>;
  lastSeen: number;
  interval: number;
  gone: boolean;
}

/** A try sent to an agent and not yet answered. */
interface PendingTry {
  readonly id: string;
  readonly host?: string;
  readonly queue?: string;
  readonly label: string;
  resolve(outcome: OutcomeMessage): void;
  reject(error: unknown): void;
  /** Where it runs, once an agent took it. */
  where?: { host?: string };
  /** Its message in the tasks stream, so that a try given up for a lost agent is taken out of it. */
  seq?: number;
}

/** A try of an earlier process that a recovery awaits instead of sending again. */
interface Adopted {
  readonly id: string;
  readonly outcome?: OutcomeMessage;
}

/** A task of an earlier process that was active on an agent when it stopped. */
export interface EarlierTry {
  step: StepSpec;
  sequence: Sequence;
  recovery: number;
  attempt: number;
}

/** What the link calls for an external trigger; it returns why the trigger is refused, if it is. */
export type TriggerHandler = (event: string, sequence: Sequence) => string | undefined;

/** What the link calls to complete a deferred step from outside; it returns why it is refused, if it is. */
export type CompleteHandler = (token: string, outcome: { ok: boolean; result?: unknown; error?: ErrorRecord }) => string | undefined;

const key = (step: string, sequence: Sequence) => `${step}\u0000${sequence}`;
const CHECK_TIMEOUT_MS = 10_000;

/** The hosts that steps are pinned to, and the queues they go through. */
function placesOf(steps: readonly StepSpec[]): { hosts: Set<string>; queues: Set<string> } {
  return {
    hosts: new Set(steps.flatMap((step) => (step.host !== undefined ? [step.host] : []))),
    queues: new Set(steps.flatMap((step) => (step.queue !== undefined ? [step.queue] : []))),
  };
}

/** The plain code of a remote step, as an agent receives it: never a function. */
export function remoteStep(step: StepSpec): RemoteStep {
  const executor = defaultExecutorKind(step, 'inline') as RemoteStep['executor'];
  const remote: RemoteStep = { name: step.name, args: step.args, executor };
  if (step.module !== undefined) remote.module = step.module;
  if (step.export !== undefined) remote.export = step.export;
  if (step.command !== undefined) remote.command = step.command;
  if (step.placeholders) remote.placeholders = true;
  if (step.cwd !== undefined) remote.cwd = step.cwd;
  if (step.env !== undefined) remote.env = step.env;
  if (step.kwargs !== undefined) remote.kwargs = step.kwargs;
  return remote;
}

/**
 * A run's side of the cluster: the remote executor of steps with `hosts` or `queue`, the
 * registry of agents (hellos, heartbeats, lost agents), the relay of their log lines, and
 * the listener of external triggers. Tasks go to agents through the tasks stream; outcomes
 * come back through the run's outcome subjects, which a stream also keeps, so that a
 * supervisor that died and is recovered collects what finished while it was down.
 */
export class ClusterLink implements Executor {
  readonly kind = 'remote';
  readonly subjects: Subjects;
  private readonly agents = new Map<string, AgentState>();
  private readonly pending = new Map<string, PendingTry>();
  private readonly adopted = new Map<string, Adopted>();
  private readonly subscriptions: Subscription[] = [];
  private readonly publisher: StreamPublisher;
  private lostTimer: NodeJS.Timeout | undefined;
  private connected = true;
  private closed = false;
  private readonly beatWaiters = new Set<() => void>();
  private runId = '';
  private readonly lostAfterMs: number;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly settings: NatsSettings,
    private readonly logger: Logger,
  ) {
    this.subjects = subjectsOf(settings);
    this.publisher = new StreamPublisher(nc);
    this.lostAfterMs = (settings.lostAfter ?? 5) * 1000;
  }

  /** Connects and makes the cluster's streams; a NATS that cannot be reached or refuses is a NatsConnectionError. */
  static async open(settings: NatsSettings, name: string, logger: Logger): Promise<ClusterLink> {
    const nc = await connectNats(settings, name);
    try {
      const jsm = await ensureStreams(nc, subjectsOf(settings));
      const link = new ClusterLink(nc, jsm, settings, logger);
      link.listenToAgents();
      return link;
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw new TransportError(`NATS at ${shownServers(settings)} has no usable JetStream (${toErrorRecord(error).message}): start nats-server with -js, and give the account JetStream`, { cause: error });
    }
  }

  /** The connection, for the parts of a run that keep state in NATS (shared pools). */
  get connection(): NatsConnection {
    return this.nc;
  }

  /** Starts listening for the run's outcomes, log lines, triggers and completions of deferred steps. */
  attach(runId: string, onTrigger: TriggerHandler, onComplete: CompleteHandler): void {
    this.runId = runId;
    const drop = (line: string) => this.logger.warn(line);
    this.subscribe(`${this.subjects.outcome(runId)}.>`, (subject, data) => {
      const outcome = decodeMessage(subject, data, ['outcome'], drop);
      if (outcome) this.settle(outcome);
    });
    this.subscribe(this.subjects.started(runId), (subject, data) => {
      const started = decodeMessage(subject, data, ['started'], drop);
      const pending = started && this.pending.get(started.id);
      if (pending?.where && started) pending.where.host = started.host;
    });
    this.subscribe(this.subjects.log(runId), (subject, data) => {
      const line = decodeMessage(subject, data, ['log'], drop);
      if (!line) return;
      const logger = this.logger.child(`Task-${line.step}(${line.sequence})`, { step: line.step, sequence: line.sequence, host: line.host });
      const write = logger[line.level as 'info'];
      if (typeof write === 'function') write.call(logger, line.message);
    });
    const triggers = this.nc.subscribe(this.subjects.trigger(runId), {
      callback: (_error, msg) => {
        const trigger = decodeMessage(msg.subject, msg.data, ['trigger'], drop);
        let refusal: string | undefined = trigger ? undefined : 'the trigger did not decode as a message of this Eventor version';
        if (trigger) {
          try {
            refusal = onTrigger(trigger.event, trigger.sequence);
          } catch (error) {
            refusal = toErrorRecord(error).message;
          }
          if (refusal === undefined) this.logger.info(`Triggered from outside: event ${trigger.event}, sequence ${trigger.sequence}`);
        }
        if (msg.reply) msg.respond(encodeMessage({ kind: 'triggered', ok: refusal === undefined, message: refusal }));
      },
    });
    this.subscriptions.push(triggers);
    const completions = this.nc.subscribe(this.subjects.complete(runId), {
      callback: (_error, msg) => {
        const complete = decodeMessage(msg.subject, msg.data, ['complete'], drop);
        let refusal: string | undefined = complete ? undefined : 'the completion did not decode as a message of this Eventor version';
        if (complete) {
          try {
            refusal = onComplete(complete.token, { ok: complete.ok, result: complete.result, error: complete.error });
          } catch (error) {
            refusal = toErrorRecord(error).message;
          }
        }
        if (msg.reply) msg.respond(encodeMessage({ kind: 'triggered', ok: refusal === undefined, message: refusal }));
      },
    });
    this.subscriptions.push(completions);
  }

  /**
   * The hosts pinned by `steps`, and the queues they use, that no live agent serves, after
   * asking every agent to say hello and giving them `waitMs` to answer: what a launcher must start.
   */
  async missing(steps: readonly StepSpec[], waitMs = 1000): Promise<{ hosts: string[]; queues: string[] }> {
    const { hosts, queues } = placesOf(steps);
    const missing = () => ({ hosts: [...hosts].filter((host) => !this.alive(host)), queues: [...queues].filter((queue) => this.servers(queue).length === 0) });
    const none = () => missing().hosts.length === 0 && missing().queues.length === 0;
    if (none()) return missing();
    this.nc.publish(this.subjects.ping, encodeMessage({ kind: 'ping' }));
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.beatWaiters.delete(check);
        resolve();
      };
      const check = () => {
        if (none()) done();
      };
      const timer = setTimeout(done, waitMs);
      this.beatWaiters.add(check);
    });
    return missing();
  }

  /**
   * Waits until every host in `hosts` said hello and every queue in `queues` has an agent,
   * then asks them whether they can import the modules of their steps. No task starts before:
   * a missing host is an AgentTimeoutError, a module an agent cannot import a StepCodeError.
   */
  async prepare(steps: readonly StepSpec[]): Promise<void> {
    const { hosts, queues } = placesOf(steps);
    const timeoutS = this.settings.agentTimeout ?? 30;
    const missing = () => [...[...hosts].filter((host) => !this.alive(host)), ...[...queues].filter((queue) => this.servers(queue).length === 0).map((queue) => `queue ${queue} (no agent serves it)`)];
    if (missing().length > 0) {
      this.nc.publish(this.subjects.ping, encodeMessage({ kind: 'ping' }));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.beatWaiters.delete(check);
          reject(new AgentTimeoutError(missing(), timeoutS));
        }, timeoutS * 1000);
        const check = () => {
          if (missing().length > 0) return;
          clearTimeout(timer);
          this.beatWaiters.delete(check);
          resolve();
        };
        this.beatWaiters.add(check);
        check();
      });
    }
    for (const queue of queues) await ensureConsumer(this.jsm, this.subjects.tasksStream, this.subjects.queueConsumer(queue), this.subjects.queueTasks(queue), this.settings.ackWait === undefined ? undefined : this.settings.ackWait * 1000);
    const byHost = new Map<string, StepSpec[]>();
    for (const step of steps) {
      if (step.module === undefined) continue;
      for (const host of step.host !== undefined ? [step.host] : this.servers(step.queue as string)) byHost.set(host, [...(byHost.get(host) ?? []), step]);
    }
    await Promise.all([...byHost].map(([host, hostSteps]) => this.check(host, hostSteps)));
  }

  /**
   * A recovery's tries that were active on agents when the earlier supervisor stopped: one
   * whose outcome is in the stream is taken from it, one an agent still runs (or that still
   * waits in the tasks stream) is awaited; neither runs again. The others run again as usual.
   */
  async adopt(tries: readonly EarlierTry[]): Promise<{ finished: number; awaited: number }> {
    let finished = 0;
    let awaited = 0;
    for (const earlier of tries) {
      const id = tryId(this.runId, earlier.recovery, earlier.step.name, earlier.sequence, earlier.attempt);
      const stored = await this.jsm.streams.getMessage(this.subjects.outcomesStream, { last_by_subj: `${this.subjects.outcome(this.runId)}.${tryToken(id)}` }).catch(() => null);
      const outcome = stored ? decodeMessage(stored.subject, stored.data, ['outcome'], (line) => this.logger.warn(line)) : undefined;
      if (outcome) {
        this.adopted.set(key(earlier.step.name, earlier.sequence), { id, outcome });
        finished++;
        continue;
      }
      const subject = earlier.step.host !== undefined ? this.subjects.hostTask(earlier.step.host, id) : this.subjects.queueTask(earlier.step.queue as string, id);
      const waiting = await this.jsm.streams.getMessage(this.subjects.tasksStream, { last_by_subj: subject }).catch(() => null);
      const running = [...this.agents.values()].some((agent) => !agent.gone && agent.running.has(id));
      if (waiting || running) {
        this.adopted.set(key(earlier.step.name, earlier.sequence), { id });
        awaited++;
      }
    }
    return { finished, awaited };
  }

  /** Sends one try to its host or queue and resolves with what the agent's code returned. */
  async run(task: TaskRun): Promise<unknown> {
    const { step, context } = task;
    const taskKey = key(step.name, context.sequence);
    const adopted = this.adopted.get(taskKey);
    if (adopted) this.adopted.delete(taskKey);
    const id = adopted?.id ?? tryId(context.runId, context.recovery, step.name, context.sequence, task.attempt ?? 1);
    const where = task.where as { host?: string } | undefined;
    if (step.host !== undefined && where) where.host = step.host;
    let outcome: OutcomeMessage;
    if (adopted?.outcome) {
      outcome = adopted.outcome;
      context.logger.info(`[ Step ${step.name}/${context.sequence} ] Finished on ${outcome.host} while the supervisor was down: outcome collected, not run again`);
    } else {
      outcome = await new Promise<OutcomeMessage>((resolve, reject) => {
        const pending: PendingTry = { id, host: step.host, queue: step.queue, label: `${step.name}/${context.sequence}`, resolve, reject, where };
        if (step.host !== undefined && this.agents.get(step.host)?.gone) {
          return reject(new AgentLostError(`agent ${step.host} is lost (no heartbeat, or it stopped), so ${pending.label} cannot start there; start the agent again and recover the run`));
        }
        this.pending.set(id, pending);
        const onAbort = () => {
          const reason = context.signal.reason;
          const timeout = reason instanceof StepTimeoutError;
          this.nc.publish(this.subjects.cancel, encodeMessage({ kind: 'cancel', id, reason: toErrorRecord(reason).message, timeout }));
          if (timeout) this.give(id)?.reject(reason);
        };
        if (context.signal.aborted) onAbort();
        else context.signal.addEventListener('abort', onAbort, { once: true });
        if (adopted) {
          context.logger.info(`[ Step ${step.name}/${context.sequence} ] Still running on an agent from before the supervisor stopped: awaited, not sent again`);
          return;
        }
        const message: Omit<TaskMessage, 'v'> = {
          kind: 'task',
          id,
          runId: context.runId,
          recovery: context.recovery,
          sequence: context.sequence,
          step: remoteStep(step),
          envvarPrefix: task.envvarPrefix,
          killGraceMs: task.killGraceMs,
        };
        if (step.host !== undefined) message.host = step.host;
        if (step.queue !== undefined) message.queue = step.queue;
        if (task.timeoutMs !== undefined) message.timeoutMs = task.timeoutMs;
        const subject = step.host !== undefined ? this.subjects.hostTask(step.host, id) : this.subjects.queueTask(step.queue as string, id);
        this.dispatch(subject, encodeMessage(message), id).then(
          (seq) => {
            if (seq !== undefined) pending.seq = seq;
          },
          (error: unknown) => this.give(id)?.reject(error),
        );
      }).finally(() => this.pending.delete(id));
    }
    if (where) where.host = outcome.host;
    if (outcome.ok) return outcome.result;
    throw errorFromRecord(outcome.error ?? { name: 'Error', message: 'the agent gave no error' });
  }

  /** Stops listening and closes the connection; tries still out are given up as cancelled. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.lostTimer);
    for (const pending of this.pending.values()) pending.reject(new CancelledError('the run closed while the task ran on an agent'));
    this.pending.clear();
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    this.publisher.close();
    await this.nc.drain().catch(() => this.nc.close());
  }

  /** The hosts that serve `queue` and are alive. */
  private servers(queue: string): string[] {
    return [...this.agents.values()].filter((agent) => !agent.gone && agent.queues.includes(queue)).map((agent) => agent.host);
  }

  private alive(host: string): boolean {
    const agent = this.agents.get(host);
    return agent !== undefined && !agent.gone;
  }

  /** Publishes a task to the tasks stream; while NATS is away it is sent again, and the stream drops the copies by id. */
  private async dispatch(subject: string, data: Uint8Array, id: string): Promise<number | undefined> {
    if (this.closed || !this.pending.has(id)) return undefined;
    return this.publisher.publish(subject, data, id);
  }

  /** Takes a try out of the pending ones, to settle it. */
  private give(id: string): PendingTry | undefined {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    return pending;
  }

  private settle(outcome: OutcomeMessage): void {
    // A try answered twice (a queue task redelivered after its agent was thought dead) is recorded once.
    const pending = this.give(outcome.id);
    pending?.resolve(outcome);
  }

  private async check(host: string, steps: StepSpec[]): Promise<void> {
    const request = encodeMessage({ kind: 'check', steps: steps.map((step) => ({ step: step.name, module: step.module as string, export: step.export as string })) });
    let reply;
    try {
      reply = await this.nc.request(this.subjects.check(host), request, { timeout: CHECK_TIMEOUT_MS });
    } catch (error) {
      throw new TransportError(`agent ${host} did not answer the check of its steps' modules within ${CHECK_TIMEOUT_MS / 1000} s (${toErrorRecord(error).message}): is it running, and on the same NATS?`, { cause: error });
    }
    const checked = decodeMessage(reply.subject || this.subjects.check(host), reply.data, ['checked'], (line) => this.logger.warn(line));
    if (!checked) throw new TransportError(`agent ${host} answered the module check with a message this Eventor cannot read: run the same Eventor version on every host`);
    const [problem] = checked.problems;
    if (problem) throw new StepCodeError(problem.step, 'unimportable', `cannot run on host ${host}: its agent cannot import module ${problem.module} (${problem.message})`);
  }

  private subscribe(subject: string, handle: (subject: string, data: Uint8Array) => void): void {
    this.subscriptions.push(
      this.nc.subscribe(subject, {
        callback: (_error, msg) => {
          try {
            handle(msg.subject, msg.data);
          } catch (error) {
            this.logger.warn(`a message on ${msg.subject} could not be handled: ${toErrorRecord(error).message}`);
          }
        },
      }),
    );
  }

  private listenToAgents(): void {
    this.subscribe(this.subjects.allBeats, (subject, data) => {
      const beat = decodeMessage(subject, data, ['beat'], (line) => this.logger.warn(line));
      if (beat) this.onBeat(beat);
    });
    this.lostTimer = setInterval(() => this.checkLost(), 250);
    this.lostTimer.unref();
    void (async () => {
      for await (const status of this.nc.status()) {
        if (status.type === 'disconnect') {
          this.connected = false;
          this.logger.warn(`Lost the connection to NATS (${status.server}); reconnecting, and tasks on agents go on`);
        } else if (status.type === 'reconnect') {
          this.connected = true;
          // Heartbeats sent while we were away were not heard: nobody is lost for that.
          for (const agent of this.agents.values()) agent.lastSeen = Date.now();
          this.logger.info(`Reconnected to NATS (${status.server})`);
          void this.sweep();
        }
      }
    })().catch(() => undefined);
  }

  private onBeat(beat: BeatMessage): void {
    const known = this.agents.get(beat.host);
    if (beat.state === 'goodbye') {
      if (known) known.gone = true;
      this.loseTasksOf(beat.host, `agent ${beat.host} stopped`);
      return;
    }
    if (!known || known.gone) this.logger.info(`Agent ${beat.host} is ready${beat.queues.length ? ` (queues: ${beat.queues.join(', ')})` : ''}`);
    this.agents.set(beat.host, { host: beat.host, queues: beat.queues.map(String), running: new Set(beat.running.map(String)), lastSeen: Date.now(), interval: beat.interval, gone: false });
    for (const waiter of [...this.beatWaiters]) waiter();
  }

  /** An agent that missed its heartbeats is lost: the tries pinned to it fail; queue tries go to another agent when their ack wait ends. */
  private checkLost(): void {
    if (!this.connected || this.closed) return;
    const now = Date.now();
    for (const agent of this.agents.values()) {
      if (agent.gone || now - agent.lastSeen <= Math.max(this.lostAfterMs, agent.interval * 3000)) continue;
      agent.gone = true;
      this.logger.warn(`Agent ${agent.host} missed its heartbeats for ${Math.round((now - agent.lastSeen) / 100) / 10} s: lost`);
      this.loseTasksOf(agent.host, `agent ${agent.host} missed its heartbeats for ${this.lostAfterMs / 1000} s`);
    }
  }

  private loseTasksOf(host: string, why: string): void {
    // A queue whose last agent is gone keeps its tasks for the next agent that serves it: say so, rather than seem to hang.
    const lost = this.agents.get(host);
    for (const queue of lost?.queues ?? []) {
      const waiting = [...this.pending.values()].filter((pending) => pending.queue === queue).length;
      if (waiting > 0 && this.servers(queue).length === 0) this.logger.warn(`Queue ${queue} has no agent left: ${waiting} task(s) wait in it for the next agent that serves it (eventor agent --queue ${queue})`);
    }
    for (const pending of [...this.pending.values()]) {
      if (pending.host !== host) continue;
      this.give(pending.id);
      if (pending.seq !== undefined) void this.jsm.streams.deleteMessage(this.subjects.tasksStream, pending.seq, false).catch(() => undefined);
      pending.reject(new AgentLostError(`${why} while it ran ${pending.label}: the task failed; recover the run to run it again`));
    }
  }

  /** After NATS came back: outcomes published while we were away are in the stream. */
  private async sweep(): Promise<void> {
    for (const pending of [...this.pending.values()]) {
      const stored = await this.jsm.streams.getMessage(this.subjects.outcomesStream, { last_by_subj: `${this.subjects.outcome(this.runId)}.${tryToken(pending.id)}` }).catch(() => null);
      const outcome = stored ? decodeMessage(stored.subject, stored.data, ['outcome'], (line) => this.logger.warn(line)) : undefined;
      if (outcome) this.settle(outcome);
    }
  }
}
