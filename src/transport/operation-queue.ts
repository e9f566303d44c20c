// Producers and consumers of operation messages over NATS, as kser's over Kafka: a Producer
// sends Message({ uuid, entrypoint, params }) to a topic; Consumers of a topic form one NATS
// queue group, so each message (an operation, or one task of an operation) goes to one of them.
// The consumer only decodes, hands the message to its handler (an OperationRegistry) and
// answers; what runs is the handler's business, and this file knows no dialect.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { LogLevel, NatsSettings, RunConfigInput } from '../model/config.js';
import { isPlainObject } from '../model/data.js';
import { describe, OptionError, toErrorRecord, TransportError, type ErrorRecord } from '../model/errors.js';
import type { Logger } from '../model/logger.js';
import { RunLogger, type LineSink } from '../observe/log.js';
import { connectNats } from './connection.js';
import { natsSettingsOf } from './nats-settings.js';
import { token } from './protocol.js';

/** The version of operation messages and replies; one of another version is dropped. */
export const OPERATION_PROTOCOL_VERSION = 1;

/** A task's result as plain data: what a Result holds. */
export interface ResultData {
  uuid?: string;
  retcode?: number;
  stdout?: string;
  stderr?: string;
  retval?: Record<string, unknown>;
}

/** What a message is made of: the entrypoint to run, its params, and the result forwarded to it. */
export interface MessageData {
  /** Of the task or operation; a new one when not given. An operation's uuid is its run id. */
  uuid?: string;
  entrypoint: string;
  params?: Record<string, unknown>;
  /** The result of the tasks before it, for a task of an operation. */
  result?: ResultData;
  metadata?: Record<string, unknown>;
}

/** A message on the wire. */
export interface OperationMessage {
  v: number;
  kind: 'operation.message';
  uuid: string;
  entrypoint: string;
  params: Record<string, unknown>;
  result?: ResultData;
  metadata?: Record<string, unknown>;
}

/** A consumer's answer to a message that asked for one: the result, who ran it, and the error if it could not. */
export interface OperationReply {
  v: number;
  kind: 'operation.reply';
  uuid: string;
  entrypoint: string;
  /** The consumer that ran it. */
  consumer: string;
  result: Required<ResultData>;
  /** Set when the message could not be run at all (an unknown entrypoint, a missing required field). */
  error?: ErrorRecord;
}

/**
 * A message for a consumer: run `entrypoint` (a Task or Operation class a registry subscribed)
 * with `params`.
 * @example
 * await producer.send(new Message({ entrypoint: 'DiceLaunch' }));
 */
export class Message implements MessageData {
  readonly uuid: string;
  readonly entrypoint: string;
  readonly params: Record<string, unknown>;
  readonly result: ResultData | undefined;
  readonly metadata: Record<string, unknown> | undefined;

  constructor(data: MessageData) {
    if (data === null || typeof data !== 'object') throw new OptionError('data', data, 'an object, { uuid, entrypoint, params }', 'new Message');
    if (typeof data.entrypoint !== 'string' || data.entrypoint === '') throw new OptionError('entrypoint', data.entrypoint, 'the name of a subscribed Task or Operation class', 'new Message');
    if (data.uuid !== undefined && (typeof data.uuid !== 'string' || data.uuid === '')) throw new OptionError('uuid', data.uuid, 'a non-empty string', 'new Message');
    if (data.params !== undefined && !isPlainObject(data.params)) throw new OptionError('params', data.params, 'a plain object', 'new Message');
    if (data.result !== undefined && !isPlainObject(data.result)) throw new OptionError('result', data.result, 'the plain data of a Result', 'new Message');
    if (data.metadata !== undefined && !isPlainObject(data.metadata)) throw new OptionError('metadata', data.metadata, 'a plain object', 'new Message');
    this.uuid = data.uuid ?? randomUUID();
    this.entrypoint = data.entrypoint;
    this.params = { ...data.params };
    this.result = data.result;
    this.metadata = data.metadata;
  }

  /** The message as it goes on the wire. */
  toWire(): OperationMessage {
    const wire: OperationMessage = { v: OPERATION_PROTOCOL_VERSION, kind: 'operation.message', uuid: this.uuid, entrypoint: this.entrypoint, params: this.params };
    if (this.result !== undefined) wire.result = this.result;
    if (this.metadata !== undefined) wire.metadata = this.metadata;
    return wire;
  }
}

const packr = new Packr({ useRecords: false, moreTypes: true });
const isText = (value: unknown): value is string => typeof value === 'string' && value !== '';

/** Encodes a message or a reply. */
export function encodeOperation(value: OperationMessage | OperationReply): Uint8Array {
  return packr.pack(value);
}

/**
 * Decodes a message or a reply of `kind`. Anything else (bytes that do not decode, another
 * version, missing fields) gives undefined and one line to `drop` naming the subject.
 */
export function decodeOperation<K extends 'operation.message' | 'operation.reply'>(subject: string, data: Uint8Array, kind: K, drop: (line: string) => void): (K extends 'operation.message' ? OperationMessage : OperationReply) | undefined {
  let value: unknown;
  try {
    value = packr.unpack(data);
  } catch (error) {
    drop(`dropped a message on ${subject} that does not decode (${data.length} bytes: ${toErrorRecord(error).message})`);
    return undefined;
  }
  if (!isPlainObject(value)) {
    drop(`dropped a message on ${subject}: it is not an operation message`);
    return undefined;
  }
  if (value.v !== OPERATION_PROTOCOL_VERSION) {
    drop(`dropped a message on ${subject} of version ${describe(value.v)}: this Eventor speaks version ${OPERATION_PROTOCOL_VERSION} of operation messages; run the same Eventor version everywhere`);
    return undefined;
  }
  const shaped =
    value.kind === kind &&
    isText(value.uuid) &&
    isText(value.entrypoint) &&
    (kind === 'operation.message' ? isPlainObject(value.params) && (value.result === undefined || isPlainObject(value.result)) && (value.metadata === undefined || isPlainObject(value.metadata)) : isText(value.consumer) && isPlainObject(value.result));
  if (!shaped) {
    drop(`dropped a message on ${subject}: ${isText(value.kind) ? `a '${value.kind}'` : 'a kindless'} message where '${kind}' was expected, or with fields missing`);
    return undefined;
  }
  return value as never;
}

/** The subject of a topic's messages, under the cluster's prefix. */
export function operationSubject(prefix: string, topic: string): string {
  return `${prefix}.operations.${token(topic)}`;
}

/** Where NATS is: settings, or a URL; default EVENTOR_NATS_URL. */
type NatsGiven = NatsSettings | string | undefined;

function settingsOf(given: NatsGiven, where: string): NatsSettings {
  const settings = natsSettingsOf(typeof given === 'string' ? { servers: given } : given);
  if (!settings) throw new OptionError('nats', given, "NATS settings ({ servers: 'nats://host:4222' }) or a URL, or EVENTOR_NATS_URL set", where);
  return settings;
}

/** How a Producer or Consumer logs: its own console lines in the seed's layout. */
export interface QueueLogging {
  level?: LogLevel;
  console?: boolean;
}

/** How a Producer is made. */
export interface ProducerOptions {
  nats?: NatsSettings | string;
  /** The topic (queue group) to send to; default 'operations'. */
  topic?: string;
  logSink?: LineSink;
  logging?: QueueLogging;
}

const DEFAULT_TOPIC = 'operations';

/**
 * Sends messages to the consumers of a topic: `send` publishes one for any consumer to run,
 * `request` also waits for the consumer's reply (the task's or the whole operation's result).
 * @example
 * const producer = await Producer.connect({ nats: 'nats://127.0.0.1:4222' });
 * const reply = await producer.request(new Message({ entrypoint: 'DiceLaunch' }));
 */
export class Producer {
  private constructor(
    private readonly nc: NatsConnection,
    readonly subject: string,
    private readonly runLogger: RunLogger,
  ) {}

  static async connect(options: ProducerOptions = {}): Promise<Producer> {
    const settings = settingsOf(options.nats, 'Producer.connect');
    const nc = await connectNats(settings, 'eventor-producer');
    const logger = new RunLogger('Producer', { host: hostname(), ...options.logging, sink: options.logSink });
    return new Producer(nc, operationSubject(settings.prefix ?? 'eventor', options.topic ?? DEFAULT_TOPIC), logger);
  }

  /** Publishes a message for one consumer of the topic to run; resolves once the server has it. */
  async send(message: Message | MessageData): Promise<Message> {
    const sent = message instanceof Message ? message : new Message(message);
    this.nc.publish(this.subject, encodeOperation(sent.toWire()));
    await this.nc.flush();
    this.runLogger.root.info(`Producer.SUCCESS: ${sent.entrypoint}[${sent.uuid}]: Message ${sent.entrypoint}[${sent.uuid}] sent to ${this.subject}`);
    return sent;
  }

  /**
   * Sends a message and waits for the reply of the consumer that ran it; a TransportError when
   * no consumer serves the topic or none answers within `timeoutMs` (default 60 s).
   */
  async request(message: Message | MessageData, options: { timeoutMs?: number } = {}): Promise<OperationReply> {
    const sent = message instanceof Message ? message : new Message(message);
    return requestOn(this.nc, this.subject, sent, options.timeoutMs ?? 60_000);
  }

  async close(): Promise<void> {
    this.runLogger.flush();
    await this.nc.close().catch(() => undefined);
  }
}

/** One request to a topic's consumers, with its reply decoded. */
async function requestOn(nc: NatsConnection, subject: string, message: Message, timeoutMs: number): Promise<OperationReply> {
  let answer: Msg;
  try {
    answer = await nc.request(subject, encodeOperation(message.toWire()), { timeout: timeoutMs });
  } catch (error) {
    const text = toErrorRecord(error).message;
    const why = /no responders/i.test(text) ? 'no consumer serves it' : /timeout/i.test(text) ? `no consumer answered within ${timeoutMs / 1000} s` : text;
    throw new TransportError(`message ${message.entrypoint}[${message.uuid}] to ${subject}: ${why}; start a Consumer of this topic on the same NATS and prefix`, { cause: error });
  }
  let problem = '';
  const reply = decodeOperation(subject, answer.data, 'operation.reply', (line) => (problem = line));
  if (!reply) throw new TransportError(`the reply to ${message.entrypoint}[${message.uuid}] cannot be read (${problem}): run the same Eventor version everywhere`);
  return reply;
}

/** What a consumer's handler is given with each message. */
export interface HandlerContext {
  /** The consumer's name. */
  consumer: string;
  logger: Logger;
  /** Sends a task of an operation to the topic's queue group and resolves with its result. */
  dispatch(message: MessageData): Promise<ResultData>;
  /** Where and how an operation of this message keeps its run. */
  runtimeFor(message: OperationMessage): { store: string; logSink?: LineSink; config?: RunConfigInput };
}

/** Runs messages for a consumer: an OperationRegistry. */
export interface MessageHandler {
  handle(message: OperationMessage, context: HandlerContext): Promise<ResultData>;
}

/** How a Consumer is made. */
export interface ConsumerOptions {
  nats?: NatsSettings | string;
  /** Runs what arrives: an OperationRegistry. */
  registry: MessageHandler;
  /** The topic (queue group) it serves; default 'operations'. */
  topic?: string;
  /** Names it in logs and replies; default host name and pid. */
  name?: string;
  /**
   * Where each operation keeps its run: a folder (each operation gets `<folder>/<entrypoint>-<uuid>`),
   * `nats://host:port/bucket` (each gets the bucket `<bucket>-<uuid>`), ':memory:', or a function
   * of the message. Default `.eventor/operations`. A store holds one running operation at a time,
   * hence one per operation; another consumer receiving the message again recovers it from there.
   */
  store?: string | ((message: OperationMessage) => string);
  /** Seconds a task sent to the queue group may take before its step fails (default 300). */
  taskTimeout?: number;
  /** Run settings of the operations it launches (logging, say). */
  config?: RunConfigInput;
  logSink?: LineSink;
  logging?: QueueLogging;
}

const safePart = (text: string) => text.replace(/[^A-Za-z0-9_-]/g, '_');

/** The store of one operation, from a consumer's store option. */
export function operationStore(base: ConsumerOptions['store'], message: OperationMessage): string {
  if (typeof base === 'function') return base(message);
  const location = base ?? join('.eventor', 'operations');
  if (location === ':memory:') return location;
  const nats = /^(nats:\/\/[^/]+)\/([^/?#]+)$/i.exec(location);
  if (nats) return `${nats[1]}/${nats[2]}-${safePart(message.uuid)}`;
  if (/^nats:\/\//i.test(location)) throw new OptionError('store', location, 'nats://host:port/bucket, the bucket whose name each operation extends with its uuid', 'Consumer.start');
  return join(location, `${safePart(message.entrypoint)}-${safePart(message.uuid)}`);
}

/**
 * Serves a topic: each message that reaches it (the queue group gives each to one consumer)
 * goes to the registry, and the result goes back to whoever asked. A message that does not
 * decode is dropped with a log line; a message that cannot run (an unknown entrypoint) gets a
 * reply with the error and a log line; neither stops the consumer.
 * @example
 * const consumer = await Consumer.start({ nats: 'nats://127.0.0.1:4222', registry });
 */
export class Consumer {
  private readonly inFlight = new Set<Promise<void>>();
  private subscription: Subscription | undefined;
  private count = 0;

  private constructor(
    private readonly nc: NatsConnection,
    readonly name: string,
    readonly subject: string,
    private readonly options: ConsumerOptions,
    private readonly runLogger: RunLogger,
  ) {}

  static async start(options: ConsumerOptions): Promise<Consumer> {
    if (options === null || typeof options !== 'object') throw new OptionError('options', options, 'an object, { nats, registry, topic, store }', 'Consumer.start');
    if (!options.registry || typeof options.registry.handle !== 'function') throw new OptionError('registry', options.registry, 'an OperationRegistry with the Task and Operation classes to run', 'Consumer.start');
    if (options.taskTimeout !== undefined && !(typeof options.taskTimeout === 'number' && options.taskTimeout > 0)) throw new OptionError('taskTimeout', options.taskTimeout, 'a number of seconds above 0', 'Consumer.start');
    const settings = settingsOf(options.nats, 'Consumer.start');
    const name = options.name ?? `${hostname()}-${process.pid}`;
    const nc = await connectNats(settings, `eventor-consumer-${name}`);
    const logger = new RunLogger(`Consumer-${name}`, { host: hostname(), ...options.logging, sink: options.logSink });
    const topic = options.topic ?? DEFAULT_TOPIC;
    const consumer = new Consumer(nc, name, operationSubject(settings.prefix ?? 'eventor', topic), options, logger);
    consumer.listen(topic);
    // The subscription is on the server once this returns: a message sent next reaches it.
    await nc.flush();
    logger.root.info(`Consumer.Starting: serving topic ${topic} (${consumer.subject}) in queue group ${topic}`);
    return consumer;
  }

  /** How many messages it has run (answered or not). */
  get handled(): number {
    return this.count;
  }

  get logger(): Logger {
    return this.runLogger.root;
  }

  /** Stops taking messages, waits for those it runs, then closes its connection. */
  async close(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = undefined;
    if (subscription) await subscription.drain().catch(() => undefined);
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await this.nc.close().catch(() => undefined);
    this.runLogger.flush();
  }

  private listen(topic: string): void {
    this.subscription = this.nc.subscribe(this.subject, {
      queue: topic,
      callback: (error, msg) => {
        if (error) {
          this.logger.warn(`Consumer: subscription of ${this.subject} reported ${toErrorRecord(error).message}`);
          return;
        }
        const running = this.receive(msg).finally(() => this.inFlight.delete(running));
        this.inFlight.add(running);
      },
    });
  }

  /** One message: decoded, run, answered. Nothing that a message holds may throw out of here. */
  private async receive(msg: Msg): Promise<void> {
    const message = decodeOperation(msg.subject, msg.data, 'operation.message', (line) => this.logger.warn(`Consumer: ${line}`));
    if (!message) return;
    this.count++;
    const label = `${message.entrypoint}[${message.uuid}]`;
    this.logger.debug(`Consumer.RUNNING: ${label}: received`);
    let result: Required<ResultData>;
    let failure: ErrorRecord | undefined;
    try {
      const data = await this.options.registry.handle(message, this.contextFor());
      result = { uuid: message.uuid, retcode: 0, stdout: '', stderr: '', retval: {}, ...data };
    } catch (thrown) {
      failure = toErrorRecord(thrown);
      const code = (thrown as { retcode?: unknown } | null)?.retcode;
      result = { uuid: message.uuid, retcode: Number.isInteger(code) ? (code as number) : 500, stdout: '', stderr: `${failure.name}: ${failure.message}`, retval: {} };
    }
    if (failure) this.logger.error(`Consumer.FAILED: ${label}: ${result.stderr} (code ${result.retcode})`);
    else if (result.retcode !== 0) this.logger.error(`Consumer.FAILED: ${label}: ${result.stderr || 'failed'} (code ${result.retcode})`);
    else this.logger.info(`Consumer.SUCCESS: ${label}: ${result.stdout || 'done'}`);
    if (!msg.reply) return;
    const reply: OperationReply = { v: OPERATION_PROTOCOL_VERSION, kind: 'operation.reply', uuid: message.uuid, entrypoint: message.entrypoint, consumer: this.name, result };
    if (failure) reply.error = failure;
    try {
      msg.respond(encodeOperation(reply));
    } catch (error) {
      // A result that cannot be encoded, or a connection closing: the asker times out, the consumer goes on.
      this.logger.error(`Consumer: the reply to ${label} could not be sent: ${toErrorRecord(error).message}`);
    }
  }

  private contextFor(): HandlerContext {
    const timeoutMs = (this.options.taskTimeout ?? 300) * 1000;
    return {
      consumer: this.name,
      logger: this.logger,
      dispatch: async (data) => {
        const reply = await requestOn(this.nc, this.subject, new Message(data), timeoutMs);
        return reply.result;
      },
      runtimeFor: (message) => ({ store: operationStore(this.options.store, message), logSink: this.options.logSink, config: this.options.config }),
    };
  }
}
