import { createHash, randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import type { ErrorRecord } from '../model/errors.js';
import type { LogLevel } from '../model/config.js';

/** The version of every message between supervisors and agents; a message of another version is dropped. */
export const PROTOCOL_VERSION = 1;

/** The code of a remote step, as plain data: an agent never runs code carried in a message, only modules under its root and commands. */
export interface RemoteStep {
  name: string;
  module?: string;
  export?: string;
  command?: string | string[];
  placeholders?: boolean;
  cwd?: string;
  env?: Record<string, string>;
  args: unknown[];
  kwargs?: Record<string, unknown>;
  /** The local executor the agent runs it with. */
  executor: 'inline' | 'worker' | 'process' | 'command';
}

/** A task for an agent: one try of one step for one sequence, pinned to a host or offered to a queue. */
export interface TaskMessage {
  v: number;
  kind: 'task';
  /** Unique per try: run, recovery, step, sequence and try. */
  id: string;
  runId: string;
  recovery: number;
  sequence: string;
  step: RemoteStep;
  host?: string;
  queue?: string;
  envvarPrefix: string;
  timeoutMs?: number;
  killGraceMs: number;
}

/** What came of a try, published by the agent to the run's outcome stream. */
export interface OutcomeMessage {
  v: number;
  kind: 'outcome';
  id: string;
  runId: string;
  host: string;
  ok: boolean;
  result?: unknown;
  error?: ErrorRecord;
  at: number;
}

/** An agent took a task and its code starts. */
export interface StartedMessage {
  v: number;
  kind: 'started';
  id: string;
  runId: string;
  host: string;
  at: number;
}

/** A line a remote step logged, or a line of a program's output. */
export interface LogMessage {
  v: number;
  kind: 'log';
  id: string;
  runId: string;
  step: string;
  sequence: string;
  host: string;
  level: Exclude<LogLevel, 'silent'>;
  message: string;
}

/** An agent's hello, heartbeat or goodbye, with what it serves and the tasks it runs. */
export interface BeatMessage {
  v: number;
  kind: 'beat';
  state: 'hello' | 'heartbeat' | 'goodbye';
  host: string;
  queues: string[];
  maxConcurrent: number;
  /** Seconds between heartbeats. */
  interval: number;
  /** Ids of the tasks it has taken and not finished. */
  running: string[];
  at: number;
}

/** A supervisor asks an agent whether it can import the modules of its steps. */
export interface CheckMessage {
  v: number;
  kind: 'check';
  steps: { step: string; module: string; export: string }[];
}

/** An agent's answer to a check: what it cannot import, and why. */
export interface CheckedMessage {
  v: number;
  kind: 'checked';
  host: string;
  problems: { step: string; module: string; message: string }[];
}

/** A supervisor cancels a try (timeout or a cancelled run): the agent aborts the step's signal. */
export interface CancelMessage {
  v: number;
  kind: 'cancel';
  id: string;
  reason: string;
  timeout: boolean;
}

/** An event fired from outside the run, as if `triggerEvent` had been called. */
export interface TriggerMessage {
  v: number;
  kind: 'trigger';
  event: string;
  sequence: string;
}

/** The running flow's answer to a trigger. */
export interface TriggeredMessage {
  v: number;
  kind: 'triggered';
  ok: boolean;
  message?: string;
}

/** Completes a deferred task from outside. */
export interface CompleteMessage {
  v: number;
  kind: 'complete';
  token: string;
  ok: boolean;
  result?: unknown;
  error?: ErrorRecord;
}

/** Asks every agent to say hello now. */
export interface PingMessage {
  v: number;
  kind: 'ping';
}

export type WireMessage = TaskMessage | OutcomeMessage | StartedMessage | LogMessage | BeatMessage | CheckMessage | CheckedMessage | CancelMessage | TriggerMessage | TriggeredMessage | CompleteMessage | PingMessage;
type Kind = WireMessage['kind'];
type OfKind<K extends Kind> = Extract<WireMessage, { kind: K }>;

const packr = new Packr({ useRecords: false, moreTypes: true });

/** A message without its version, which encoding adds. */
export type Unversioned<M> = M extends WireMessage ? Omit<M, 'v'> : never;

/** A message as it goes on the wire. */
export function encodeMessage<M extends WireMessage = WireMessage>(message: Unversioned<M>): Uint8Array {
  return packr.pack({ v: PROTOCOL_VERSION, ...message });
}

const isText = (value: unknown): value is string => typeof value === 'string';
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What each kind must have, so that a message that decodes but is not ours is dropped rather than half-used. */
const shapes: Record<Kind, (m: Record<string, unknown>) => boolean> = {
  task: (m) => isText(m.id) && isText(m.runId) && isText(m.sequence) && typeof m.recovery === 'number' && isObject(m.step) && isText(m.step.name) && Array.isArray(m.step.args) && isText(m.step.executor) && isText(m.envvarPrefix),
  outcome: (m) => isText(m.id) && isText(m.runId) && isText(m.host) && typeof m.ok === 'boolean' && (m.ok || isObject(m.error)),
  started: (m) => isText(m.id) && isText(m.host),
  log: (m) => isText(m.id) && isText(m.host) && isText(m.step) && isText(m.sequence) && isText(m.level) && isText(m.message),
  beat: (m) => isText(m.host) && isText(m.state) && Array.isArray(m.queues) && Array.isArray(m.running) && typeof m.interval === 'number',
  check: (m) => Array.isArray(m.steps),
  checked: (m) => isText(m.host) && Array.isArray(m.problems),
  cancel: (m) => isText(m.id),
  trigger: (m) => isText(m.event) && isText(m.sequence),
  triggered: (m) => typeof m.ok === 'boolean',
  complete: (m) => isText(m.token) && typeof m.ok === 'boolean' && (m.error === undefined || isObject(m.error)),
  ping: () => true,
};

/**
 * Decodes a message of one of `kinds`. Anything else (bytes that do not decode, a truncated
 * message, another protocol version, a message of another kind or shape) gives undefined and
 * one line to `drop` naming the subject: a peer must never crash on what the network hands it.
 */
export function decodeMessage<K extends Kind>(subject: string, data: Uint8Array, kinds: readonly K[], drop: (line: string) => void): OfKind<K> | undefined {
  let value: unknown;
  try {
    value = packr.unpack(data);
  } catch (error) {
    drop(`dropped a message on ${subject} that does not decode (${data.length} bytes: ${(error as Error)?.message ?? String(error)})`);
    return undefined;
  }
  if (!isObject(value)) {
    drop(`dropped a message on ${subject}: it is not a message of Eventor's protocol`);
    return undefined;
  }
  if (value.v !== PROTOCOL_VERSION) {
    drop(`dropped a message on ${subject} of protocol version ${String(value.v)}: this Eventor speaks version ${PROTOCOL_VERSION}; run the same Eventor version on every host`);
    return undefined;
  }
  const kind = value.kind as K;
  if (!kinds.includes(kind) || !shapes[kind](value)) {
    drop(`dropped a message on ${subject}: a ${isText(value.kind) ? `'${value.kind}'` : 'kindless'} message where ${kinds.join(' or ')} was expected, or with fields missing`);
    return undefined;
  }
  return value as unknown as OfKind<K>;
}

/** A name as one subject token: NATS splits subjects at dots and gives `*`, `>` and spaces a meaning of their own. */
export function token(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, (c) => `~${c.codePointAt(0)!.toString(16)}~`);
}

/** A short token that names one try in a subject. */
export function tryToken(id: string): string {
  return createHash('sha1').update(id).digest('base64url');
}

/**
 * A deferred task's token: the run it belongs to (so that `eventor complete` finds the run's
 * subject) and 16 random bytes (so that nobody completes a task whose token they were not given).
 */
export function deferToken(runId: string): string {
  return `${Buffer.from(runId).toString('base64url')}.${randomBytes(16).toString('base64url')}`;
}

/** The run a token of `deferToken` belongs to, or undefined for what is not such a token. */
export function runOfToken(token: string): string | undefined {
  const match = /^([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]{22}$/.exec(token);
  return match ? Buffer.from(match[1], 'base64url').toString() : undefined;
}

/** The id of one try of a task: the same on every host, and rebuilt by a recovery from the stored record. */
export function tryId(runId: string, recovery: number, step: string, sequence: string, attempt: number): string {
  return JSON.stringify([runId, recovery, step, sequence, attempt]);
}

/** Every subject and stream name, under a prefix (default `eventor`) so that several clusters can share a NATS. */
export class Subjects {
  readonly tasksStream: string;
  readonly outcomesStream: string;
  readonly allBeats: string;
  readonly ping: string;
  readonly cancel: string;

  constructor(readonly prefix: string) {
    const upper = prefix.toUpperCase().replace(/[^A-Z0-9_-]/g, '_');
    this.tasksStream = `${upper}_TASKS`;
    this.outcomesStream = `${upper}_OUTCOMES`;
    this.allBeats = `${prefix}.agent.*.beat`;
    this.ping = `${prefix}.agent.ping`;
    this.cancel = `${prefix}.agent.cancel`;
  }

  /** Everything the tasks stream keeps: tasks pinned to hosts and tasks of queues. */
  get allTasks(): string {
    return `${this.prefix}.tasks.>`;
  }

  /** Everything the outcomes stream keeps: the outcomes of every run. */
  get allOutcomes(): string {
    return `${this.prefix}.run.*.outcome.>`;
  }

  hostTask(host: string, id: string): string {
    return `${this.prefix}.tasks.host.${token(host)}.${tryToken(id)}`;
  }

  hostTasks(host: string): string {
    return `${this.prefix}.tasks.host.${token(host)}.>`;
  }

  queueTask(queue: string, id: string): string {
    return `${this.prefix}.tasks.queue.${token(queue)}.${tryToken(id)}`;
  }

  queueTasks(queue: string): string {
    return `${this.prefix}.tasks.queue.${token(queue)}.>`;
  }

  /** The durable consumer of a host's tasks, or of a queue's. */
  hostConsumer(host: string): string {
    return `host_${token(host).replace(/~/g, '_')}`;
  }

  queueConsumer(queue: string): string {
    return `queue_${token(queue).replace(/~/g, '_')}`;
  }

  outcome(runId: string): string {
    return `${this.prefix}.run.${token(runId)}.outcome`;
  }

  started(runId: string): string {
    return `${this.prefix}.run.${token(runId)}.status`;
  }

  log(runId: string): string {
    return `${this.prefix}.run.${token(runId)}.log`;
  }

  trigger(runId: string): string {
    return `${this.prefix}.run.${token(runId)}.trigger`;
  }

  complete(runId: string): string {
    return `${this.prefix}.run.${token(runId)}.complete`;
  }

  beat(host: string): string {
    return `${this.prefix}.agent.${token(host)}.beat`;
  }

  check(host: string): string {
    return `${this.prefix}.agent.${token(host)}.check`;
  }
}
