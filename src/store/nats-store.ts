// The shared store: runs kept in a NATS JetStream key-value bucket, so that a recovery can start
// on another host than the run it takes up. Keys are the store's keys (store.ts) with each part
// base64url-encoded as one KV token, so that a run's records, a recovery's tasks and all runs
// are each a subject filter on the leading tokens.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsSettings } from '../model/config.js';
import { EventorError, StoreError, StoreFormatError, StoreLockedError, UnstorableResultError } from '../model/errors.js';
import type { RunRecord, StoreRecord, TaskRecord } from '../model/records.js';
import { assertEncodable, decodeRecord, encode } from './codec.js';
import { keyPrefix, recordKey, RUN_PREFIX, runKey, type RecoveryState, type Store } from './store.js';

/** How a NATS store reaches its server; credentials in the store's URL (`nats://user:pass@host/bucket`) take precedence. */
export type NatsStoreSettings = Pick<NatsSettings, 'user' | 'pass' | 'token' | 'nkey' | 'credsFile' | 'tls'>;

export interface NatsStoreOptions {
  nats?: NatsStoreSettings;
  /** @internal Milliseconds after which a lock not refreshed is taken over (default 15 s); tests make it small. */
  lockTtlMs?: number;
  /** @internal Milliseconds between two refreshes of the lock (default 5 s). */
  refreshMs?: number;
  /**
   * Opens the bucket to read only, without its lock, so that a reader (the dashboard) can follow
   * a run that holds it: every write and delete fails.
   */
  readOnly?: boolean;
}

/** The separator of the store's key parts (store.ts). */
const SEP = '\u0000';
/** The KV key of the lock: one token, and no record key is one token. */
export const LOCK_KEY = 'lock';
const LOCK_TTL_MS = 15_000;
const REFRESH_MS = 5_000;
/** A token for an empty key part: base64url never makes '='. */
const EMPTY_TOKEN = '=';
/**
 * The longest subject a record is put under. The server closes a connection whose control line
 * (subject, reply inbox, sizes) is longer than its max_control_line, 4 KiB by default.
 */
const MAX_SUBJECT_BYTES = 3_072;
/** What a message carries besides the record, kept free under the server's max_payload. */
const PAYLOAD_MARGIN = 4_096;
/** Puts in flight at once within one batch; a longer batch goes in windows of this many. */
const WINDOW = 2_048;
/** Tries of a put that timed out or found JetStream away (a server restarting), each waiting this long for its answer. */
const PUBLISH_TRIES = 4;
const PUBLISH_TIMEOUT_MS = 5_000;

/** A store key part as one KV token: its UTF-8 bytes in base64url ('=' for an empty part). */
function token(part: string): string {
  return part === '' ? EMPTY_TOKEN : Buffer.from(part, 'utf8').toString('base64url');
}

function untoken(text: string): string {
  return text === EMPTY_TOKEN ? '' : Buffer.from(text, 'base64url').toString('utf8');
}

/** The KV key of a store key (recordKey, runKey): one base64url token per part, '.'-separated. */
export function kvKeyOf(storeKey: string): string {
  return storeKey.split(SEP).map(token).join('.');
}

/** The store key a KV key stands for. */
export function storeKeyOf(kvKey: string): string {
  return kvKey.split('.').map(untoken).join(SEP);
}

/** The KV filter of every key that starts with a store key prefix (keyPrefix, RUN_PREFIX: it ends with the separator). */
function filterOf(prefix: string): string {
  return `${kvKeyOf(prefix.slice(0, -1))}.>`;
}

/** A NATS URL with any user and password masked, for messages. */
function masked(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

type NatsLibraries = [typeof import('@nats-io/jetstream'), typeof import('@nats-io/kv'), typeof import('@nats-io/transport-node')];
let libraries: NatsLibraries | undefined;

/** The NATS client, loaded when a NATS store first opens: a process that keeps its runs in LevelDB never loads it. */
async function loadNats(): Promise<NatsLibraries> {
  libraries ??= await Promise.all([import('@nats-io/jetstream'), import('@nats-io/kv'), import('@nats-io/transport-node')]);
  return libraries;
}

/** The NATS client, once a store has opened (every caller runs after `open()`). */
function nats(): NatsLibraries {
  if (!libraries) throw new Error('the NATS client is used before a NATS store opened');
  return libraries;
}

function messageOf(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

/** Whether a CAS write failed because the key is not at the revision given (or exists, for create). */
function wrongRevision(error: unknown): boolean {
  if (!libraries) return false;
  const [{ JetStreamApiError, JetStreamApiCodes }] = libraries;
  return error instanceof JetStreamApiError && (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** What the lock of a bucket holds: who holds it, since when it was last refreshed, and for how long that counts. */
interface LockHolder {
  host: string;
  pid: number;
  at: number;
  ttl: number;
  owner: string;
}

function parseLock(bytes: Uint8Array): LockHolder | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LockHolder>;
    if (typeof value?.host === 'string' && typeof value.at === 'number' && Number.isFinite(value.at)) {
      return { host: value.host, pid: typeof value.pid === 'number' ? value.pid : -1, at: value.at, ttl: typeof value.ttl === 'number' && value.ttl > 0 ? value.ttl : LOCK_TTL_MS, owner: String(value.owner ?? '') };
    }
  } catch {
    // Not JSON: not an Eventor lock.
  }
  return undefined;
}

/** Who holds a lock, for messages. */
function describeHolder(holder: LockHolder, now = Date.now()): string {
  const age = Math.max(0, Math.round((now - holder.at) / 100) / 10);
  return `host ${holder.host} (pid ${holder.pid}, lock refreshed ${age} s ago)`;
}

/** A StoreLockedError that names the bucket and the host holding it; `location` stays the store's location. */
function lockedError(location: string, message: string, options?: { cause?: unknown }): StoreLockedError {
  return new StoreLockedError(location, { ...options, message });
}

/** The parts of a `nats://[user[:pass]@]host[:port]/bucket` location. */
interface Target {
  server: string;
  bucket: string;
  location: string;
  user?: string;
  pass?: string;
  token?: string;
}

function parseLocation(location: string): Target {
  const shown = masked(location);
  const usage = "give it as 'nats://host:port/bucket' (a bucket name of letters, digits, - and _)";
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw new StoreError(`store ${shown} is not a URL: ${usage}`);
  }
  if (url.protocol !== 'nats:' || !url.hostname) throw new StoreError(`store ${shown} is not a NATS URL: ${usage}`);
  const bucket = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[-\w]+$/.test(bucket)) throw new StoreError(`store ${shown} names ${bucket ? `the bucket '${bucket}', which NATS does not take` : 'no bucket'}: ${usage}`);
  if (url.search || url.hash) throw new StoreError(`store ${shown} has a query or fragment, which a NATS store does not read: ${usage}`);
  const server = `nats://${url.hostname}:${url.port || '4222'}`;
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  const pass = url.password ? decodeURIComponent(url.password) : undefined;
  // As NATS URLs go, a user without a password is a token.
  return { server, bucket, location: `${server}/${bucket}`, ...(pass !== undefined ? { user, pass } : user !== undefined ? { token: user } : {}) };
}

/** What an open store holds: the connection, the bucket, and the lock it owns. */
interface Session {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kv: KV;
  stream: string;
  /** `$KV.<bucket>.`: the subject of a KV key is this and the key. */
  subjectPrefix: string;
  maxPayload: number;
  owner: string;
  lockRevision: number;
  /** When the lock was last written by us, on our clock: it is ours for `lockTtlMs` from then. */
  lockConfirmedAt: number;
  timer?: NodeJS.Timeout;
  refreshing?: Promise<void>;
  /** Batches being put: close() and deleteRun() wait for them. */
  inFlight: Set<Promise<void>>;
  /** A put that failed, or a lock lost: thrown by every later write. */
  failure?: Error;
  /** False from a disconnect to the reconnect: what is sent meanwhile may never be answered, so requests wait. */
  connected: boolean;
  /** Settled at the next reconnect (or rejected when the store closes first), while disconnected. */
  reconnected?: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void };
  /** Set by close(): a put that timed out is not tried again. */
  closing: boolean;
}

/**
 * Runs in a NATS JetStream KV bucket, shared by every host that reaches the server. One
 * supervisor at a time holds the bucket: open() takes its lock (compare-and-set), the holder
 * refreshes it, and a lock not refreshed for its TTL (a supervisor that died) is taken over.
 *
 * A batch is put record by record (KV has no transaction across keys), all concurrently on one
 * connection and in the batch's order, and write() resolves once the server has acknowledged
 * every put. The server stores them in the order they arrive, so that a supervisor dying mid-batch
 * leaves a prefix of it (but for a put retried after a timeout, which lands after the rest): what
 * recovery reads is then what a crash between two smaller batches would have left, and none of the
 * batch's tasks had started, since a task's code starts only once its write has resolved.
 */
export class NatsStore implements Store {
  readonly durable = true;
  /** `nats://host:port/bucket`, never with credentials. */
  readonly location: string;
  readonly bucket: string;
  private readonly target: Target;
  private readonly settings: NatsStoreSettings;
  private readonly lockTtlMs: number;
  private readonly readOnly: boolean;
  private readonly refreshMs: number;
  private opening: Promise<void> | undefined;
  private session: Session | undefined;

  constructor(location: string, options: NatsStoreOptions = {}) {
    this.target = parseLocation(location);
    this.location = this.target.location;
    this.bucket = this.target.bucket;
    this.settings = options.nats ?? {};
    this.readOnly = options.readOnly ?? false;
    this.lockTtlMs = options.lockTtlMs ?? LOCK_TTL_MS;
    this.refreshMs = options.refreshMs ?? Math.min(REFRESH_MS, Math.max(1, Math.floor(this.lockTtlMs / 3)));
  }

  open(): Promise<void> {
    this.opening ??= this.openSession().catch((error: unknown) => {
      this.opening = undefined;
      throw error;
    });
    return this.opening;
  }

  private async openSession(): Promise<void> {
    const nc = await this.connect();
    try {
      const [{ jetstream, StorageType }, { Kvm }] = nats();
      const js = jetstream(nc, { timeout: 5_000 });
      const jsm = await js.jetstreamManager();
      const kv = await new Kvm(js).create(this.bucket, { history: 1, storage: StorageType.File, description: 'Eventor runs' });
      const session: Session = {
        nc,
        js,
        jsm,
        kv,
        stream: `KV_${this.bucket}`,
        subjectPrefix: `$KV.${this.bucket}.`,
        maxPayload: nc.info?.max_payload ?? 1024 * 1024,
        owner: randomUUID(),
        lockRevision: 0,
        lockConfirmedAt: 0,
        inFlight: new Set(),
        connected: true,
        closing: false,
      };
      this.watch(session);
      if (this.readOnly) session.failure = new StoreError(`store ${this.location} is open for reading only: it writes nothing`);
      else {
        await this.takeLock(session);
        session.timer = setInterval(() => this.refreshInBackground(session), this.refreshMs);
        session.timer.unref();
      }
      this.session = session;
    } catch (error) {
      await nc.close().catch(() => undefined);
      if (error instanceof EventorError) throw error;
      throw this.natsError(error, 'cannot be opened');
    }
  }

  /**
   * Follows the connection: while it is down, requests wait for the reconnect rather than go out.
   * A request nats.js buffered during a disconnect was seen to go unanswered after the reconnect,
   * so that each would wait out its timeout.
   */
  private watch(session: Session): void {
    void (async () => {
      for await (const status of session.nc.status()) {
        if (status.type === 'disconnect' && session.connected) {
          session.connected = false;
          let resolve!: () => void;
          let reject!: (error: Error) => void;
          const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
          promise.catch(() => undefined);
          session.reconnected = { promise, resolve, reject };
        } else if (status.type === 'reconnect' && !session.connected) {
          session.connected = true;
          session.reconnected?.resolve();
          session.reconnected = undefined;
        }
      }
    })().catch(() => undefined);
  }

  /** Resolves at once while connected, else at the reconnect. */
  private reachable(session: Session): Promise<void> | undefined {
    return session.connected ? undefined : session.reconnected?.promise;
  }

  /** Connects, reconnecting for as long as the store is open; an unreachable server or refused credentials is a StoreError. */
  private async connect(): Promise<NatsConnection> {
    const { settings, target } = this;
    const [, , { connect, credsAuthenticator, nkeyAuthenticator }] = await loadNats();
    let authenticator;
    try {
      if (settings.credsFile) authenticator = credsAuthenticator(readFileSync(settings.credsFile));
      else if (settings.nkey) authenticator = nkeyAuthenticator(new TextEncoder().encode(settings.nkey));
    } catch (error) {
      throw new StoreError(`store ${this.location}: cannot read the NATS credentials${settings.credsFile ? ` file ${settings.credsFile}` : ' (nkey seed)'}: ${(error as NodeJS.ErrnoException).code ?? 'not a valid seed'}`, { cause: error });
    }
    const tls = settings.tls ? { caFile: settings.tls.ca, certFile: settings.tls.cert, keyFile: settings.tls.key } : undefined;
    const credentials = target.pass !== undefined ? { user: target.user, pass: target.pass } : target.token !== undefined ? { token: target.token } : { user: settings.user, pass: settings.pass, token: settings.token };
    try {
      return await connect({
        servers: target.server,
        name: `eventor-store-${this.bucket}`,
        ...credentials,
        authenticator,
        tls,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        timeout: 5_000,
        noAsyncTraces: true,
      });
    } catch (error) {
      const text = messageOf(error);
      const refused = /authoriz|authentic|credential|permission/i.test(text) || (error as Error)?.name === 'AuthorizationError';
      const why = refused
        ? `refused the credentials (${this.scrub(text)}): check the user and password of the store URL, or the store's NATS settings`
        : `cannot be reached (${this.scrub(text)}): start nats-server with JetStream (nats-server -js), or fix the store URL`;
      throw new StoreError(`store ${this.location}: NATS at ${target.server} ${why}`, { cause: error });
    }
  }

  /** A message of the client's or the server's, with every secret of the settings taken out. */
  private scrub(text: string): string {
    let shown = masked(text);
    for (const secret of [this.target.pass, this.target.token, this.settings.pass, this.settings.token, this.settings.nkey]) if (secret) shown = shown.split(secret).join('***');
    return shown;
  }

  /** A failure of NATS or JetStream as a StoreError naming the store. */
  private natsError(error: unknown, doing: string): StoreError {
    const text = this.scrub(messageOf(error));
    const hint = /jetstream (is )?not enabled|no responders/i.test(text) ? ': NATS at this address has no JetStream; start nats-server with -js' : /timeout/i.test(text) ? ': NATS did not answer in time' : '';
    return new StoreError(`store ${this.location} ${doing} (${text})${hint}`, { cause: error });
  }

  private lockValue(session: Session, at: number): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ host: hostname(), pid: process.pid, at, ttl: this.lockTtlMs, owner: session.owner }));
  }

  /**
   * Takes the bucket's lock: a new one with create, a stale one (not refreshed within its TTL)
   * with update at the revision read, so that of two supervisors taking it at once one wins.
   */
  private async takeLock(session: Session): Promise<void> {
    const { kv } = session;
    for (let attempt = 0; attempt < 5; attempt++) {
      const at = Date.now();
      try {
        session.lockRevision = await kv.create(LOCK_KEY, this.lockValue(session, at));
        session.lockConfirmedAt = at;
        return;
      } catch (error) {
        if (!wrongRevision(error)) throw error;
      }
      const entry = await kv.get(LOCK_KEY);
      // Released between the create and the get: try again.
      if (!entry || entry.operation !== 'PUT') continue;
      const holder = parseLock(entry.value);
      if (!holder) {
        throw new StoreFormatError(`store ${this.location} holds under key ${LOCK_KEY} something that is not an Eventor lock (${entry.value.length} bytes): delete it (nats kv del ${this.bucket} ${LOCK_KEY}) if no Eventor uses this bucket, or give this flow another bucket`);
      }
      const now = Date.now();
      if (now - holder.at <= holder.ttl) {
        throw lockedError(
          this.location,
          `store ${this.location} is held by another run on ${describeHolder(holder, now)}: wait for it to finish or close it, or give this flow another bucket; a lock not refreshed for ${holder.ttl / 1000} s is taken over`,
        );
      }
      try {
        const taken = Date.now();
        session.lockRevision = await kv.update(LOCK_KEY, this.lockValue(session, taken), entry.revision);
        session.lockConfirmedAt = taken;
        return;
      } catch (error) {
        // Another supervisor took it over first, or refreshed it: read it again.
        if (!wrongRevision(error)) throw error;
      }
    }
    throw lockedError(this.location, `store ${this.location} is being opened by other supervisors at the same time: its lock changed hands five times while this one tried to take it; try again`);
  }

  /** Refreshes the lock, one refresh at a time: two at once would find each other's revision and take it for a takeover. */
  private refresh(session: Session): Promise<void> {
    session.refreshing ??= this.refreshLock(session).finally(() => (session.refreshing = undefined));
    return session.refreshing;
  }

  /** Writes the lock anew at the revision it has, unless another supervisor took it over: then this store writes no more. */
  private async refreshLock(session: Session): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const at = Date.now();
      try {
        session.lockRevision = await session.kv.update(LOCK_KEY, this.lockValue(session, at), session.lockRevision);
        session.lockConfirmedAt = at;
        return;
      } catch (error) {
        if (!wrongRevision(error)) throw error;
      }
      const entry = await session.kv.get(LOCK_KEY);
      const holder = entry?.operation === 'PUT' ? parseLock(entry.value) : undefined;
      // Still ours: an earlier refresh went in although its answer was lost (a timeout).
      if (holder && holder.owner === session.owner && entry && attempt < 3) {
        session.lockRevision = entry.revision;
        continue;
      }
      session.failure ??= lockedError(
        this.location,
        `store ${this.location}: this run's lock was taken over${holder ? ` by ${describeHolder(holder)}` : ''} after it was not refreshed for ${this.lockTtlMs / 1000} s (NATS unreachable, or this process stalled); this run writes no more: let the other finish, then recover it`,
      );
      throw session.failure;
    }
  }

  private refreshInBackground(session: Session): void {
    // While disconnected the refresh waits for the reconnect, in the write that needs it.
    if (session.refreshing || session.failure || !session.connected) return;
    this.refresh(session).catch(() => undefined);
  }

  private current(): Session {
    if (!this.session) throw new StoreError(`store ${this.location} is not open: call open() first`);
    return this.session;
  }

  /**
   * Puts one batch, every record concurrently and in the batch's order, and resolves once the
   * server has acknowledged them all. A record written twice in the batch is put once, where it
   * was written last, so that no record goes ahead of what led to it.
   */
  write(records: readonly StoreRecord[]): Promise<void> | void {
    const session = this.current();
    if (session.failure) throw session.failure;
    const keys = records.map(recordKey);
    const last = new Map<string, number>();
    keys.forEach((key, index) => last.set(key, index));
    const puts: { subject: string; value: Uint8Array }[] = [];
    const limit = session.maxPayload - PAYLOAD_MARGIN;
    for (let index = 0; index < records.length; index++) {
      const key = keys[index];
      if (last.get(key) !== index) continue;
      const subject = session.subjectPrefix + kvKeyOf(key);
      if (Buffer.byteLength(subject) > MAX_SUBJECT_BYTES) {
        throw new StoreError(`store ${this.location}: the key ${JSON.stringify(key.slice(0, 200))}… is too long for a NATS KV key (${Buffer.byteLength(subject)} bytes, at most ${MAX_SUBJECT_BYTES}): give the step, event or sequence a shorter name; nothing of its batch was written`);
      }
      let value: Uint8Array;
      try {
        value = encode(records[index]);
      } catch (error) {
        throw new StoreError(`store ${this.location}: the record under key ${JSON.stringify(key)} cannot be encoded (${messageOf(error)}), so nothing of its batch was written`, { cause: error });
      }
      if (value.byteLength > limit) {
        throw new StoreError(`store ${this.location}: the record under key ${JSON.stringify(key)} is ${value.byteLength} bytes, more than NATS takes in one message here (max_payload ${session.maxPayload}), so nothing of its batch was written`);
      }
      puts.push({ subject, value });
    }
    if (puts.length === 0) return;
    const written = this.put(session, puts);
    session.inFlight.add(written);
    const settle = () => session.inFlight.delete(written);
    written.then(settle, settle);
    return written;
  }

  private async put(session: Session, puts: { subject: string; value: Uint8Array }[]): Promise<void> {
    try {
      await this.reachable(session);
      // Refreshes have failed for a while: the lock may be another's by now, and this batch must not go in then.
      if (Date.now() - session.lockConfirmedAt > (this.lockTtlMs * 2) / 3) {
        await session.refreshing?.catch(() => undefined);
        if (session.failure) throw session.failure;
        if (Date.now() - session.lockConfirmedAt > (this.lockTtlMs * 2) / 3) await this.refresh(session);
      }
      for (let start = 0; start < puts.length; start += WINDOW) {
        if (start > 0) await this.reachable(session);
        await Promise.all(puts.slice(start, start + WINDOW).map(({ subject, value }) => this.publish(session, subject, value)));
      }
    } catch (error) {
      session.failure ??= error instanceof EventorError ? error : this.natsError(error, 'cannot be written: the run cannot be kept on record');
      throw session.failure;
    }
  }

  /**
   * One put, tried again when its answer did not come (the connection dropped under it) or
   * JetStream was not there yet (a server starting): after the reconnect, and never once the
   * store is closing. Put again, a record only replaces itself.
   */
  private async publish(session: Session, subject: string, value: Uint8Array): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await session.js.publish(subject, value, { timeout: PUBLISH_TIMEOUT_MS });
        return;
      } catch (error) {
        const name = (error as Error)?.name;
        if (!(name === 'TimeoutError' || name === 'JetStreamNotEnabled') || attempt >= PUBLISH_TRIES || session.closing) throw error;
      }
      await this.reachable(session);
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      if (session.closing) throw new StoreError(`store ${this.location} was closed while a put waited for NATS to answer: that batch was not written`);
    }
  }

  /** Throws when `value` could not be stored as a task's result: msgpackr cannot encode it, or NATS cannot carry it. */
  assertStorable(value: unknown): void {
    assertEncodable(value);
    const limit = (this.session?.maxPayload ?? 1024 * 1024) - PAYLOAD_MARGIN;
    const size = encode(value).byteLength;
    if (size > limit) throw new UnstorableResultError(`the result is ${size} bytes encoded, and store ${this.location} takes at most about ${limit} in one record (the server's max_payload): return less, or keep the data elsewhere and return where`);
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const session = this.current();
    const key = runKey(runId);
    let entry;
    try {
      await this.reachable(session);
      entry = await session.kv.get(kvKeyOf(key));
    } catch (error) {
      throw this.natsError(error, 'cannot be read');
    }
    return entry && entry.operation === 'PUT' ? (this.decode(entry.value, kvKeyOf(key)) as RunRecord) : undefined;
  }

  async listRuns(): Promise<RunRecord[]> {
    return (await this.all(RUN_PREFIX)) as RunRecord[];
  }

  async loadRecovery(runId: string, recovery: number): Promise<RecoveryState> {
    const [tasks, events, delays] = await Promise.all([this.all(keyPrefix('task', runId, recovery)), this.all(keyPrefix('event', runId, recovery)), this.all(keyPrefix('delay', runId, recovery))]);
    return { tasks, events, delays } as RecoveryState;
  }

  async *eachTask(runId: string, recovery: number): AsyncIterable<TaskRecord> {
    for await (const record of this.scan(keyPrefix('task', runId, recovery))) yield record as TaskRecord;
  }

  /** Removes a run's records (purged from the stream, so that no delete marker stays), the run record last. */
  async deleteRun(runId: string): Promise<void> {
    const session = this.current();
    if (this.readOnly && session.failure) throw session.failure;
    // A batch still going could bring records of the run back.
    await Promise.allSettled([...session.inFlight]);
    try {
      await this.reachable(session);
      for (const kind of ['task', 'event', 'delay'] as const) await session.jsm.streams.purge(session.stream, { filter: session.subjectPrefix + filterOf(keyPrefix(kind, runId)) });
      await session.jsm.streams.purge(session.stream, { filter: session.subjectPrefix + kvKeyOf(runKey(runId)) });
    } catch (error) {
      throw this.natsError(error, 'cannot be written');
    }
  }

  /** Waits for the batches being put, releases the lock (if still ours) and closes the connection. */
  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = undefined;
    await opening?.catch(() => undefined);
    const session = this.session;
    this.session = undefined;
    if (!session) return;
    clearInterval(session.timer);
    session.closing = true;
    // NATS is away: what waits for it gives up now; the lock goes stale and is taken over.
    session.reconnected?.reject(new StoreError(`store ${this.location} was closed while NATS was unreachable: the batches still waiting for it were not written`));
    await Promise.allSettled([...session.inFlight]);
    await session.refreshing?.catch(() => undefined);
    try {
      if (session.connected && !this.readOnly && !(session.failure instanceof StoreLockedError)) await session.kv.delete(LOCK_KEY, { previousSeq: session.lockRevision });
    } catch {
      // Taken over meanwhile: the lock is another's.
    }
    await session.nc.close().catch(() => undefined);
  }

  private async all(prefix: string): Promise<StoreRecord[]> {
    const records: StoreRecord[] = [];
    for await (const record of this.scan(prefix)) records.push(record);
    return records;
  }

  /**
   * Every record whose key starts with `prefix`, in stream order: an ordered push consumer of
   * the last message of each matching subject, read until the server says none is pending.
   */
  private async *scan(prefix: string): AsyncGenerator<StoreRecord> {
    const session = this.current();
    const filter = session.subjectPrefix + filterOf(prefix);
    let consumer;
    try {
      await this.reachable(session);
      consumer = await session.js.consumers.getPushConsumer(session.stream, { filter_subjects: filter, deliver_policy: nats()[0].DeliverPolicy.LastPerSubject });
    } catch (error) {
      throw this.natsError(error, 'cannot be read');
    }
    try {
      if ((await consumer.info(true)).num_pending === 0) return;
      const messages = await consumer.consume();
      try {
        for await (const message of messages) {
          const record = this.recordOf(message, session);
          if (record) yield record;
          if (message.info.pending === 0) break;
        }
      } finally {
        messages.stop();
      }
    } catch (error) {
      throw error instanceof EventorError ? error : this.natsError(error, 'cannot be read');
    } finally {
      // An ephemeral consumer would stay on the server for minutes.
      await consumer.delete().catch(() => undefined);
    }
  }

  private recordOf(message: JsMsg, session: Session): StoreRecord | undefined {
    const operation = message.headers?.get('KV-Operation');
    if (operation === 'DEL' || operation === 'PURGE') return undefined;
    return this.decode(message.data, message.subject.slice(session.subjectPrefix.length));
  }

  /** decodeRecord, with what to do about a damaged record in a bucket rather than in a folder. */
  private decode(bytes: Uint8Array, kvKey: string): StoreRecord {
    return decodeRecord(bytes, storeKeyOf(kvKey), this.location, `delete that record (nats kv del ${this.bucket} ${kvKey}) or give this flow another bucket`);
  }
}
