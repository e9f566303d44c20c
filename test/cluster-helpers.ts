// Shared pieces of the cluster tests: a real nats-server with real `eventor agent` processes and
// supervisors (Eventors) on it, torn down in an order that leaves nothing running (supervisors
// first, while NATS is still up to take their goodbyes, then the agents, then the server), and
// waits on conditions (files, records, output) rather than on the clock.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { Eventor, type EventorOptions, type NatsSettings } from '../src/index.js';
import { Recorder } from './helpers.js';
import { NatsServer, spawnProcess, type Child } from './nats-harness.js';

/** The agents' root: module paths of the tests' remote steps are relative to it. */
export const FIXTURES = fileURLToPath(new URL('./fixtures/cluster/', import.meta.url));
/** The built command line, as the agents run it (they run dist/, so build before testing). */
export const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/** A remote step's code: an export of the fixtures' steps.mjs, with its arguments. */
export const code = (name: 'record' | 'gated' | 'together' | 'says', ...args: unknown[]) => ({ module: './steps.mjs', export: name, args });

/** The lines of a file, none if it does not exist yet. */
export function linesOf(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
}

/** How many lines of `path` are exactly `line`. */
export const countOf = (path: string, line: string): number => linesOf(path).filter((l) => l === line).length;

/**
 * Resolves once `check` holds, looking again every 20 ms; rejects after `timeoutMs` with what
 * it waited for and, if given, what `state` says. A limit on failure, never a wait of its own.
 */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000, state?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state ? `\n${state()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An Eventor of a test with what it printed and every transition it went through. */
export interface Supervised {
  ev: Eventor;
  /** Its console lines, as the logSink got them. */
  lines: string[];
  recorder: Recorder;
}

export interface AgentOptions {
  root?: string;
  queues?: string[];
  heartbeat?: number;
  maxConcurrent?: number;
  /** More flags, say --user and --pass. */
  flags?: string[];
  env?: Record<string, string>;
}

/**
 * One test's cluster. Whatever the test started through it is stopped when the test ends, even
 * when it fails halfway: Eventors are closed first (their NATS connection would otherwise go on
 * reconnecting to a stopped server and keep the test file alive), then children are killed, then
 * nats-server is stopped.
 */
export class Cluster {
  private readonly closers: (() => Promise<unknown>)[] = [];
  private readonly later: (() => unknown)[] = [];

  private constructor(readonly server: NatsServer | undefined) {}

  /** A cluster on a fresh nats-server (with `user`/`pass` if given); `server: false` for a test that needs none. */
  static async start(t: TestContext, options: { user?: string; pass?: string; server?: boolean } = {}): Promise<Cluster> {
    let cluster: Cluster | undefined;
    const hooks: (() => unknown)[] = [];
    // The harness registers its own cleanup with t.after, which runs hooks first in, first out: it is
    // handed a context that collects them, so that they run after the Eventors are closed.
    const collecting = { after: (fn: () => unknown) => hooks.push(fn) } as unknown as TestContext;
    t.after(async () => {
      for (const close of cluster?.closers.splice(0) ?? []) await close();
      for (const hook of cluster?.later.splice(0) ?? []) await hook();
      for (const hook of hooks.splice(0)) await hook();
    });
    const server = options.server === false ? undefined : await NatsServer.start(collecting, { user: options.user, pass: options.pass });
    cluster = new Cluster(server);
    cluster.context = { after: (fn: () => unknown) => cluster!.later.push(fn) } as unknown as TestContext;
    return cluster;
  }

  /** What children are spawned with, so that they are killed after the Eventors close. */
  context!: TestContext;

  get url(): string {
    if (!this.server) throw new Error('this cluster has no nats-server');
    return this.server.url;
  }

  /** Spawns a child (killed at the end of the test, after the Eventors close). */
  spawn(command: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Child {
    return spawnProcess(this.context, command, args, options);
  }

  /** Starts `eventor agent` for `host` without waiting for it. */
  spawnAgent(host: string, options: AgentOptions = {}): Child {
    const args = [CLI, 'agent', '--nats', this.url, '--host', host, '--root', options.root ?? FIXTURES];
    for (const queue of options.queues ?? []) args.push('--queue', queue);
    if (options.heartbeat !== undefined) args.push('--heartbeat', String(options.heartbeat));
    if (options.maxConcurrent !== undefined) args.push('--max-concurrent', String(options.maxConcurrent));
    args.push(...(options.flags ?? []));
    return this.spawn(process.execPath, args, { env: options.env });
  }

  /** Starts `eventor agent` for `host` and waits until it says it is ready. */
  async agent(host: string, options: AgentOptions = {}): Promise<Child> {
    const agent = this.spawnAgent(host, options);
    await agent.waitFor(new RegExp(`eventor agent ${host}: agent ${host} ready`));
    return agent;
  }

  /**
   * An Eventor on this cluster's NATS (`nats` is merged into config.nats; `nats: null` for none)
   * with an in-memory store unless given, console lines into `lines`, and a Recorder.
   */
  eventor(options: EventorOptions & { nats?: Partial<NatsSettings> | null } = {}): Supervised {
    const { nats, config, ...rest } = options;
    const lines: string[] = [];
    const natsConfig = nats === null ? undefined : { ...nats, servers: nats?.servers ?? this.url };
    const ev = new Eventor({
      name: 'cluster',
      store: ':memory:',
      logSink: (line) => lines.push(line),
      ...rest,
      config: { ...config, ...(natsConfig ? { nats: natsConfig } : {}), logging: { console: true, ...config?.logging } },
    });
    // Bounded: a test that failed with NATS stopped must still end.
    this.closers.push(() => Promise.race([ev.close().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]));
    return { ev, lines, recorder: new Recorder(ev) };
  }

  /**
   * The path of a gate file for the fixtures' `gated` step, which waits until it exists. It is
   * opened when the test ends too, before the Eventors close, so that a failed test leaves no
   * step waiting at it (and no close() waiting for that step).
   */
  gate(path: string): string {
    this.closers.push(async () => {
      try {
        writeFileSync(path, '');
      } catch {
        // Its folder is gone: nothing waits at it any more.
      }
    });
    return path;
  }

  /** Registers something to close with the Eventors, before children and the server go (say, a raw NATS client). */
  closeFirst(close: () => Promise<unknown>): void {
    this.closers.push(close);
  }
}

/** The records of every task of `recorder` that entered `status`, as `step/sequence@host`. */
export function where(recorder: Recorder, status: 'success' | 'failure' | 'active'): string[] {
  return recorder.records.filter((r) => r.status === status).map((r) => `${r.step}/${r.sequence}@${r.host}`);
}
