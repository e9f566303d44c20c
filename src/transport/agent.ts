import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { jetstream, type Consumer, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { LogLevel, NatsSettings } from '../model/config.js';
import { CancelledError, EventorError, RootEscapeError, StepTimeoutError, toErrorRecord, UnstorableResultError } from '../model/errors.js';
import type { Logger, LogFields } from '../model/logger.js';
import type { StepSpec } from '../model/spec.js';
import { CommandExecutor } from '../executors/command.js';
import type { Executor, TaskRun } from '../executors/executor.js';
import { InlineExecutor } from '../executors/inline.js';
import { cannotDefer } from '../executors/step-context.js';
import { ProcessExecutor } from '../executors/process.js';
import { WorkerExecutor } from '../executors/worker.js';
import { connectNats, ensureConsumer, ensureStreams, subjectsOf } from './connection.js';
import { StreamPublisher } from './publisher.js';
import { decodeMessage, encodeMessage, tryToken, type CheckedMessage, type OutcomeMessage, type Subjects, type TaskMessage } from './protocol.js';

/** How an agent is started: `eventor agent` passes its flags here. */
export interface AgentOptions {
  nats: NatsSettings;
  /** The name supervisors pin steps to (`hosts: ['node1']`). */
  host: string;
  /** The folder a step's module is resolved in; nothing outside it is imported. */
  root: string;
  /** Work queues whose tasks this agent takes too. */
  queues?: string[];
  /** Most tasks running at once (default 8). */
  maxConcurrent?: number;
  /** Seconds between heartbeats (default 1). */
  heartbeat?: number;
  /** Where the agent's own lines go (default stderr). */
  log?: (line: string) => void;
}

/** A task the agent took and has not finished. */
interface Running {
  readonly message: TaskMessage;
  readonly abort: AbortController;
  /** A queue task's stream message, acknowledged once its outcome is published. */
  readonly msg?: JsMsg;
}

/** Resolves a step's module inside `root`, refusing a path that leads out of it, through `..` or a symbolic link. */
export function moduleUnderRoot(root: string, module: string): string {
  const realRoot = realpathSync(root);
  if (/^[a-z][a-z0-9+.-]*:/i.test(module)) throw new RootEscapeError(`module ${module} is a URL: an agent imports only files under its root ${realRoot}; give a path relative to it`);
  const path = resolve(realRoot, module);
  const inside = (candidate: string) => {
    const rel = relative(realRoot, candidate);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  };
  if (!inside(path)) throw new RootEscapeError(`module ${module} leads outside the agent's root ${realRoot}: give a path under it`);
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new RootEscapeError(`module ${module} is not under the agent's root ${realRoot} (no such file ${path}): put it there, or start the agent with another --root`);
  }
  if (!inside(real)) throw new RootEscapeError(`module ${module} is a symbolic link to ${real}, outside the agent's root ${realRoot}: agents import only files under their root`);
  return real;
}

/**
 * An agent on a cluster host: it says hello, heartbeats, takes the tasks pinned to its host and
 * those of the queues it serves, runs them with the local executors, and publishes each outcome
 * to the run's outcome stream before it acknowledges a queue task, so that neither a lost agent
 * nor a lost supervisor loses a finished task. Step code comes only from modules under its root.
 */
export class Agent {
  readonly host: string;
  private readonly subjects: Subjects;
  private readonly running = new Map<string, Running>();
  private readonly backlog: { message: TaskMessage; msg?: JsMsg }[] = [];
  private readonly executors = new Map<string, Executor>();
  private readonly modules = new Map<string, Record<string, unknown>>();
  /** Module paths resolved under the root, once each. */
  private readonly paths = new Map<string, string>();
  private readonly publisher: StreamPublisher;
  private readonly consumers: ConsumerMessages[] = [];
  /** The queue fetches under way, stopped when the agent drains. */
  private readonly fetching = new Set<ConsumerMessages>();
  /** Queue pulls waiting for a slot. */
  private readonly slotWaiters = new Set<() => void>();
  private readonly subscriptions: Subscription[] = [];
  private readonly js: JetStreamClient;
  private readonly maxConcurrent: number;
  private readonly interval: number;
  private readonly root: string;
  private readonly write: (line: string) => void;
  private heartbeat: NodeJS.Timeout | undefined;
  private working: NodeJS.Timeout | undefined;
  private draining = false;
  private drained: Promise<void> | undefined;
  private idle: (() => void) | undefined;
  /** Settles when the agent has stopped. */
  readonly stopped: Promise<void>;
  private markStopped!: () => void;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly options: AgentOptions,
  ) {
    this.host = options.host;
    this.subjects = subjectsOf(options.nats);
    this.js = jetstream(nc);
    this.publisher = new StreamPublisher(nc);
    this.maxConcurrent = options.maxConcurrent ?? 8;
    this.interval = options.heartbeat ?? 1;
    this.root = realpathSync(options.root);
    this.write = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.stopped = new Promise((resolve) => (this.markStopped = resolve));
  }

  /** Connects, makes the streams and consumers it needs, and starts taking tasks. */
  static async start(options: AgentOptions): Promise<Agent> {
    if (!options.host || /\s/.test(options.host)) throw new EventorError(`agent host ${JSON.stringify(options.host)} is not a host name: give --host a name without spaces, such as node1`);
    try {
      if (!statSync(options.root).isDirectory()) throw new Error('not a folder');
    } catch {
      throw new EventorError(`agent root ${options.root} is not a folder: give --root the folder that holds the steps' modules`);
    }
    const nc = await connectNats(options.nats, `eventor-agent-${options.host}`);
    const agent = new Agent(nc, options);
    try {
      await agent.begin();
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
    return agent;
  }

  /** Ids of the tasks taken and not finished. */
  get runningIds(): string[] {
    return [...this.running.keys(), ...this.backlog.map(({ message }) => message.id)];
  }

  /**
   * Drains the agent: it takes no new task, hands queue tasks it holds but has not started
   * back to the queue, finishes the running ones and publishes their outcomes, says goodbye, and closes.
   */
  stop(): Promise<void> {
    this.drained ??= this.drain();
    return this.drained;
  }

  private async begin(): Promise<void> {
    const { subjects } = this;
    const jsm = await ensureStreams(this.nc, subjects);
    const drop = (line: string) => this.say(line);
    this.subscriptions.push(
      this.nc.subscribe(subjects.ping, {
        callback: (_error, msg) => {
          if (decodeMessage(msg.subject, msg.data, ['ping'], drop)) this.beat('hello');
        },
      }),
      this.nc.subscribe(subjects.check(this.host), {
        callback: (_error, msg) => {
          const check = decodeMessage(msg.subject, msg.data, ['check'], drop);
          if (!check) return;
          void this.check(check.steps).then((problems) => msg.respond(encodeMessage<CheckedMessage>({ kind: 'checked', host: this.host, problems })));
        },
      }),
      this.nc.subscribe(subjects.cancel, {
        callback: (_error, msg) => {
          const cancel = decodeMessage(msg.subject, msg.data, ['cancel'], drop);
          const running = cancel && this.running.get(cancel.id);
          if (running && cancel) running.abort.abort(cancel.timeout ? new StepTimeoutError(cancel.reason) : new CancelledError(cancel.reason));
        },
      }),
    );
    // Tasks pinned to this host are its own whatever its load: they stream in, and wait here for a slot.
    await ensureConsumer(jsm, subjects.tasksStream, subjects.hostConsumer(this.host), subjects.hostTasks(this.host), undefined);
    const pinned = await this.js.consumers.get(subjects.tasksStream, subjects.hostConsumer(this.host));
    this.consumers.push(await pinned.consume({ max_messages: this.maxConcurrent, callback: (msg) => this.onTask(msg, 'host') }));
    for (const queue of this.options.queues ?? []) {
      await ensureConsumer(jsm, subjects.tasksStream, subjects.queueConsumer(queue), subjects.queueTasks(queue), undefined);
      void this.pullQueue(await this.js.consumers.get(subjects.tasksStream, subjects.queueConsumer(queue)));
    }
    this.heartbeat = setInterval(() => this.beat('heartbeat'), this.interval * 1000);
    // A queue task held longer than its ack wait would go to another agent while this one still runs it.
    this.working = setInterval(() => {
      for (const { msg } of this.running.values()) msg?.working();
      for (const { msg } of this.backlog) msg?.working();
    }, 5000);
    this.beat('hello');
    this.say(`agent ${this.host} ready: root ${this.root}, ${this.options.queues?.length ? `queues ${this.options.queues.join(', ')}, ` : ''}up to ${this.maxConcurrent} task(s) at once`);
  }

  /**
   * Takes a queue's tasks only as slots are free: a task pulled by a busy agent would wait here
   * while an idle one could run it, so the queue is asked for no more than this agent can start.
   */
  private async pullQueue(consumer: Consumer): Promise<void> {
    for (let wait = 100; !this.draining && !this.nc.isClosed(); ) {
      const free = this.maxConcurrent - this.running.size - this.backlog.length;
      if (free <= 0) {
        await new Promise<void>((resolve) => this.slotWaiters.add(resolve));
        continue;
      }
      try {
        const messages = await consumer.fetch({ max_messages: free, expires: 2000 });
        this.fetching.add(messages);
        try {
          for await (const msg of messages) this.onTask(msg, 'queue');
        } finally {
          this.fetching.delete(messages);
        }
        wait = 100;
      } catch (error) {
        if (this.draining || this.nc.isClosed()) return;
        // NATS is away, or the consumer is being remade: ask again soon.
        this.say(`cannot take tasks of the queue yet (${toErrorRecord(error).message}); trying again`);
        await new Promise((resolve) => setTimeout(resolve, wait));
        wait = Math.min(wait * 2, 2000);
      }
    }
  }

  private onTask(msg: JsMsg, kind: 'host' | 'queue'): void {
    const message = decodeMessage(msg.subject, msg.data, ['task'], (line) => this.say(line));
    // What cannot be read would come back again and again: it is taken out of the stream.
    if (!message) return void msg.term();
    if (this.draining) return void msg.nak();
    // A pinned task is this host's from the moment it arrives: a lost agent fails it, and it never runs twice.
    if (kind === 'host') msg.ack();
    this.take({ message, msg: kind === 'queue' ? msg : undefined });
  }

  private take(entry: { message: TaskMessage; msg?: JsMsg }): void {
    if (this.running.size < this.maxConcurrent) this.start(entry);
    else this.backlog.push(entry);
  }

  private start({ message, msg }: { message: TaskMessage; msg?: JsMsg }): void {
    const abort = new AbortController();
    this.running.set(message.id, { message, abort, msg });
    // The supervisor knows the host of a pinned task; of a queue task, it learns it here.
    if (msg) this.nc.publish(this.subjects.started(message.runId), encodeMessage({ kind: 'started', id: message.id, runId: message.runId, host: this.host, at: Date.now() }));
    void this.execute(message, abort).then((outcome) => this.finish(message, outcome, msg));
  }

  private async execute(message: TaskMessage, abort: AbortController): Promise<Omit<OutcomeMessage, 'v'>> {
    const base = { kind: 'outcome' as const, id: message.id, runId: message.runId, host: this.host };
    let timer: NodeJS.Timeout | undefined;
    if (message.timeoutMs !== undefined) timer = setTimeout(() => abort.abort(new StepTimeoutError(`step '${message.step.name}' (sequence ${message.sequence}) timed out after ${message.timeoutMs! / 1000} s on host ${this.host}`)), message.timeoutMs);
    try {
      const { run, executor } = this.taskRun(message, abort.signal);
      const result = await executor.run(run);
      return { ...base, ok: true, result, at: Date.now() };
    } catch (error) {
      return { ...base, ok: false, error: toErrorRecord(error), at: Date.now() };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Publishes the outcome to the run's outcome stream, waiting out a NATS that is away; then a queue task is acknowledged. */
  private async finish(message: TaskMessage, outcome: Omit<OutcomeMessage, 'v'>, msg: JsMsg | undefined): Promise<void> {
    let data: Uint8Array;
    try {
      data = encodeMessage<OutcomeMessage>(outcome);
    } catch (error) {
      data = encodeMessage<OutcomeMessage>({ ...outcome, ok: false, result: undefined, error: toErrorRecord(new UnstorableResultError(`step '${message.step.name}' returned a result that cannot be sent (${toErrorRecord(error).message}): return plain data`)) });
    }
    const subject = `${this.subjects.outcome(message.runId)}.${tryToken(message.id)}`;
    try {
      // Sent again while NATS is away, until the stream has it: only then is a queue task acknowledged.
      await this.publisher.publish(subject, data, message.id);
      msg?.ack();
    } catch (error) {
      this.say(`the outcome of ${message.step.name}/${message.sequence} was not stored (${toErrorRecord(error).message})`);
      // Not acknowledged: the queue gives the task to an agent that can report it.
      msg?.nak();
    }
    this.running.delete(message.id);
    const next = this.backlog.shift();
    if (next) this.start(next);
    else if (this.running.size === 0) this.idle?.();
    for (const waiter of this.slotWaiters) waiter();
    this.slotWaiters.clear();
  }

  private taskRun(message: TaskMessage, signal: AbortSignal): { run: TaskRun; executor: Executor } {
    const remote = message.step;
    const step: StepSpec = { name: remote.name, args: remote.args, triggers: {}, recovery: {}, config: {} };
    if (remote.kwargs !== undefined) step.kwargs = remote.kwargs;
    if (remote.env !== undefined) step.env = remote.env;
    if (remote.placeholders) step.placeholders = true;
    if (remote.command !== undefined) {
      step.command = remote.command;
      step.cwd = remote.cwd === undefined ? this.root : this.folderUnderRoot(remote.cwd);
    }
    if (remote.module !== undefined) {
      let path = this.paths.get(remote.module);
      if (path === undefined) this.paths.set(remote.module, (path = moduleUnderRoot(this.root, remote.module)));
      step.module = path;
      step.export = remote.export;
    }
    const logger = new RelayLogger(this, message, `Task-${remote.name}(${message.sequence})`);
    const context = { name: remote.name, sequence: message.sequence, recovery: message.recovery, runId: message.runId, host: this.host, logger, signal, defer: cannotDefer(`agent ${this.host}`) };
    const run: TaskRun = { step, context, envvarPrefix: message.envvarPrefix, timeoutMs: message.timeoutMs, killGraceMs: message.killGraceMs };
    if (remote.executor === 'inline' && step.module !== undefined) return { run: { ...run, step: { ...step, func: this.inlineFunction(step) } }, executor: this.executor('inline') };
    return { run, executor: this.executor(remote.executor) };
  }

  /** An inline step's function, from its module, imported once per agent. */
  private inlineFunction(step: StepSpec): (...args: unknown[]) => unknown {
    const path = step.module as string;
    return async (...args: unknown[]) => {
      let module = this.modules.get(path);
      if (!module) this.modules.set(path, (module = (await import(pathToFileURL(path).href)) as Record<string, unknown>));
      const fn = module[step.export as string];
      if (typeof fn !== 'function') throw new EventorError(`module ${path} on host ${this.host} has no function export '${step.export}'`);
      return await (fn as (...a: unknown[]) => unknown)(...args);
    };
  }

  private folderUnderRoot(folder: string): string {
    const path = resolve(this.root, folder);
    const rel = relative(this.root, path);
    if (rel.startsWith('..') || isAbsolute(rel)) throw new RootEscapeError(`cwd ${folder} leads outside the agent's root ${this.root}`);
    return path;
  }

  private executor(kind: string): Executor {
    let executor = this.executors.get(kind);
    if (!executor) {
      executor = kind === 'worker' ? new WorkerExecutor(0) : kind === 'process' ? new ProcessExecutor() : kind === 'command' ? new CommandExecutor() : new InlineExecutor();
      this.executors.set(kind, executor);
    }
    return executor;
  }

  private async check(steps: { step: string; module: string; export: string }[]): Promise<CheckedMessage['problems']> {
    const problems: CheckedMessage['problems'] = [];
    for (const { step, module, export: name } of Array.isArray(steps) ? steps : []) {
      try {
        const path = moduleUnderRoot(this.root, String(module));
        const imported = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
        if (typeof imported[name] !== 'function') throw new Error(`it has no function export '${name}'${Object.keys(imported).length ? ` (it exports ${Object.keys(imported).join(', ')})` : ''}`);
      } catch (error) {
        problems.push({ step: String(step), module: String(module), message: `${error instanceof RootEscapeError ? 'RootEscapeError: ' : ''}${toErrorRecord(error).message}` });
      }
    }
    return problems;
  }

  private beat(state: 'hello' | 'heartbeat' | 'goodbye'): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(this.subjects.beat(this.host), encodeMessage({ kind: 'beat', state, host: this.host, queues: this.options.queues ?? [], maxConcurrent: this.maxConcurrent, interval: this.interval, running: this.runningIds, at: Date.now() }));
  }

  /** @internal A relay logger's line, to the run's log subject. */
  relay(message: TaskMessage, level: Exclude<LogLevel, 'silent'>, text: string): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(this.subjects.log(message.runId), encodeMessage({ kind: 'log', id: message.id, runId: message.runId, step: message.step.name, sequence: message.sequence, host: this.host, level, message: text }));
  }

  private say(line: string): void {
    this.write(`eventor agent ${this.host}: ${line}`);
  }

  private async drain(): Promise<void> {
    this.draining = true;
    this.say(`draining: no new task; ${this.running.size} running task(s) finish first`);
    for (const consumer of [...this.consumers, ...this.fetching]) consumer.stop();
    for (const waiter of this.slotWaiters) waiter();
    // Queue tasks held but not started go back to the queue at once, for another agent.
    for (let i = this.backlog.length - 1; i >= 0; i--) {
      const { msg } = this.backlog[i];
      if (msg) {
        msg.nak();
        this.backlog.splice(i, 1);
      }
    }
    if (this.running.size > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    clearInterval(this.heartbeat);
    clearInterval(this.working);
    this.beat('goodbye');
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    await Promise.all([...this.executors.values()].map((executor) => executor.close().catch(() => undefined)));
    this.publisher.close();
    await this.nc.drain().catch(() => this.nc.close());
    this.say('stopped');
    this.markStopped();
  }
}

/** The logger a remote step sees: its lines go to the supervisor's console and JSON log, tagged with this host. */
class RelayLogger implements Logger {
  constructor(
    private readonly agent: Agent,
    private readonly message: TaskMessage,
    readonly name: string,
  ) {}

  enabled(level: LogLevel): boolean {
    return level !== 'debug' && level !== 'silent';
  }

  debug(): void {}

  info(text: string): void {
    this.agent.relay(this.message, 'info', text);
  }

  warn(text: string): void {
    this.agent.relay(this.message, 'warn', text);
  }

  error(text: string): void {
    this.agent.relay(this.message, 'error', text);
  }

  child(_name: string, _fields?: LogFields): Logger {
    return this;
  }
}
