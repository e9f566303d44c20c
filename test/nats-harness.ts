// Real processes for tests that need them: a nats-server with JetStream on its own port and store
// folder, and any other child whose output a test waits on. Each is stopped when its test ends, and
// killed when the test process ends, so that a failed or interrupted test leaves nothing running.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

// /usr/sbin is not on an ordinary user's PATH, and that is where the Debian package puts the server.
const NATS_SERVER = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
const READY_MS = 20_000;
const STOP_MS = 5_000;

/** How a child ended: its exit code, or the signal that ended it. */
export type ExitStatus = { code: number | null; signal: string | null };

/** A child process whose combined output a test can wait on; see spawnProcess(). */
export interface Child {
  /** -1 when the command could not be started at all (its output says why). */
  readonly pid: number;
  /** Everything it printed so far, stdout and stderr interleaved as they arrived, for assertions and failure messages. */
  output(): string;
  /** Output is the only sign of progress most children give; rejects, with the output so far, once the child can no longer print the pattern. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves once the child has exited and its output has been read. */
  readonly exited: Promise<ExitStatus>;
  /** Does nothing once the child has exited, so that cleanup need not know whether a test already stopped it. */
  kill(signal?: NodeJS.Signals): void;
}

type Watched = Child & { running(): boolean };

const live = new Set<ChildProcess>();
const folders = new Set<string>();
let guarded = false;

/** After-hooks do not run when the process exits or is interrupted mid-test; this catches what they miss. */
function guard(): void {
  if (guarded) return;
  guarded = true;
  const killAll = () => {
    for (const child of live) child.kill('SIGKILL');
    live.clear();
    for (const folder of folders) rmSync(folder, { recursive: true, force: true, maxRetries: 3 });
    folders.clear();
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAll();
      process.off(signal, onSignal);
      // With no other listener, the signal's default (ending the process) would be lost to ours: raise it again.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** A free TCP port on 127.0.0.1, for a server a test starts; the OS picks it, so parallel test files do not collide. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error(`no port from ${String(address)}`))));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port; a refused connect is an answer, not an error. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Shared by spawnProcess() and NatsServer, which cleans up on its own terms (SIGTERM first). */
function run(command: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Watched {
  guard();
  // Nothing writes to stdin, and a child reading it should see its end rather than wait forever.
  const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const name = [command, ...args].join(' ');
  let text = '';
  let ended: ExitStatus | undefined;
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const waiter of [...waiters]) waiter();
  };
  const append = (chunk: string) => {
    text += chunk;
    changed();
  };
  child.stdout!.setEncoding('utf8').on('data', append);
  child.stderr!.setEncoding('utf8').on('data', append);
  if (child.pid !== undefined) live.add(child);

  const exited = new Promise<ExitStatus>((resolve) => {
    const finish = (status: ExitStatus) => {
      live.delete(child);
      ended = status;
      resolve(status);
      changed();
    };
    child.once('exit', (code, signal) => {
      const status = { code, signal };
      // 'close' comes once the pipes are drained, but never if a grandchild still holds them open.
      const timer = setTimeout(() => finish(status), 500);
      child.once('close', () => {
        clearTimeout(timer);
        finish(status);
      });
    });
    child.on('error', (error) => {
      append(`\n[${command}: ${error.message}]\n`);
      if (child.pid === undefined) finish({ code: null, signal: null });
    });
  });

  const waitFor = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      const check = () => {
        const match = text.match(pattern);
        if (match) {
          done();
          resolve(match);
        } else if (ended) {
          done();
          reject(new Error(`'${name}' ended (${statusText(ended)}) before its output matched ${pattern}; its output:\n${text}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`'${name}' did not print ${pattern} within ${timeoutMs} ms; its output so far:\n${text}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  return {
    pid: child.pid ?? -1,
    output: () => text,
    waitFor,
    exited,
    running: () => child.pid !== undefined && child.exitCode === null && child.signalCode === null,
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

function statusText(status: ExitStatus): string {
  return status.signal ? `signal ${status.signal}` : status.code === null ? 'not started' : `code ${status.code}`;
}

/**
 * Spawns a child whose output a test waits on (say, a worker printing that it subscribed); it is
 * SIGKILLed when the test ends if it still runs. `env` is added to this process's environment.
 */
export function spawnProcess(t: TestContext, command: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Child {
  const child = run(command, args, options);
  t.after(async () => {
    child.kill('SIGKILL');
    await child.exited;
  });
  return child;
}

/** Files of a TLS server's certificate, its key, and the CA its clients' certificates must be signed by (PEM). */
export interface NatsServerTls {
  cert: string;
  key: string;
  ca: string;
  /** Require a client certificate signed by `ca` (--tlsverify). */
  verify?: boolean;
}

/** A real nats-server with JetStream, so that tests meet the broker's actual behaviour rather than a fake's. */
export class NatsServer {
  readonly url: string;
  private readonly runs: Watched[] = [];

  private constructor(
    readonly port: number,
    private readonly store: string,
    private readonly auth: string[],
  ) {
    this.url = `nats://127.0.0.1:${port}`;
  }

  /**
   * Each server gets its own port and store, so tests never share state, nor touch a system server on 4222.
   * `user`/`pass` or `token` (--auth) make it refuse clients without them; `tls` makes it speak TLS only,
   * with its certificate and key and the CA it trusts for client certificates, which it requires with `verify`.
   * `config` is a configuration file (-c) for what has no flag, such as nkey users; `jetstream: false`
   * starts it without JetStream, as a server someone forgot to give -js.
   */
  static async start(t: TestContext, options: { user?: string; pass?: string; token?: string; tls?: NatsServerTls; config?: string; jetstream?: boolean; port?: number } = {}): Promise<NatsServer> {
    guard();
    const folder = mkdtempSync(join(tmpdir(), 'eventor-nats-'));
    folders.add(folder);
    let server: NatsServer | undefined;
    t.after(async () => {
      await server?.stop();
      rmSync(folder, { recursive: true, force: true, maxRetries: 3 });
      folders.delete(folder);
    });
    const auth = [...(options.user !== undefined ? ['--user', options.user] : []), ...(options.pass !== undefined ? ['--pass', options.pass] : [])];
    if (options.token !== undefined) auth.push('--auth', options.token);
    if (options.config !== undefined) auth.push('-c', options.config);
    // Go's flags take the last value: this turns off the -js every launch begins with.
    if (options.jetstream === false) auth.push('-js=false');
    if (options.tls) auth.push('--tls', '--tlscert', options.tls.cert, '--tlskey', options.tls.key, '--tlscacert', options.tls.ca, ...(options.tls.verify ? ['--tlsverify'] : []));
    for (let attempt = 1; ; attempt++) {
      server = new NatsServer(options.port ?? (await freePort()), join(folder, 'store'), auth);
      try {
        await server.launch();
        return server;
      } catch (error) {
        // Another process can take freePort()'s port before the server binds it; only a port we picked may be replaced.
        if (options.port !== undefined || attempt >= 3 || !/address already in use/i.test(server.output())) throw error;
      }
    }
  }

  /** Changes on restart(), so a test can tell the server really was replaced. */
  get pid(): number {
    return this.runs.at(-1)?.pid ?? -1;
  }

  /** What every run of the server printed, so that a failure shows the broker's side of the story. */
  output(): string {
    return this.runs.map((run) => run.output()).join('\n--- restarted ---\n');
  }

  /** SIGTERM lets JetStream flush its store; SIGKILL only if it will not go. Safe to call when already stopped. */
  async stop(): Promise<void> {
    const current = this.runs.at(-1);
    if (!current) return;
    current.kill('SIGTERM');
    const timer = setTimeout(() => current.kill('SIGKILL'), STOP_MS);
    await current.exited;
    clearTimeout(timer);
  }

  /** Same port and store, so clients can reconnect and JetStream streams and messages survive, as after a broker outage. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** A listening port alone is not enough: the log line says JetStream is up too, the connect proves the port is this server's. */
  private async launch(): Promise<void> {
    const args = ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.store, ...this.auth];
    const child = run(NATS_SERVER, args);
    this.runs.push(child);
    const deadline = Date.now() + READY_MS;
    try {
      await child.waitFor(/Server is ready/, READY_MS);
      while (!(await accepts(this.port))) {
        if (!child.running() || Date.now() > deadline) throw new Error('not accepting connections');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } catch {
      const running = child.running();
      child.kill('SIGKILL');
      const status = await child.exited;
      const why = running ? `was not ready after ${READY_MS / 1000} s` : `exited (${statusText(status)}) before it was ready`;
      throw new Error(`nats-server on port ${this.port} ${why}; its output:\n${this.output()}`);
    }
  }
}
