// NATS security with real parts (issue 11): nats-servers that want a user and password, a token
// or an nkey, or speak TLS (with and without client certificates); supervisors in this process and
// real `eventor agent` / `eventor trigger` processes (they run dist/: build first) that reach them
// through config.nats, flags or EVENTOR_NATS_* variables. Then a search of everything a run leaves
// behind or prints (console lines, the JSON log, the store folder's bytes and records, the errors
// it raises, the agents' output and process arguments) for the secrets it was given.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inspect, promisify } from 'node:util';
import { nkeys } from '@nats-io/transport-node';
import { ClassicLevel } from 'classic-level';
import { ConfigError, NatsConnectionError, TransportError, TriggerRefusedError, sendTrigger, type NatsSettings } from '../src/index.js';
import { CLI, Cluster, FIXTURES, code, countOf, linesOf, until, type Supervised } from './cluster-helpers.js';
import { errorOf, tempDir } from './helpers.js';
import { freePort, NatsServer, type Child, type ExitStatus } from './nats-harness.js';

const LIMIT = { timeout: 120_000 } as const;
/** The openssl extension files of the tests' certificates. */
const SECURITY = fileURLToPath(new URL('./fixtures/security/', import.meta.url));
const PROC = existsSync('/proc/self/cmdline');

/** A secret that no other string of a run can contain by chance. */
const secret = (what: string) => `${what}-${randomBytes(12).toString('hex')}`;
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

// ---------------------------------------------------------------------------------------------
// The world of one test: a Cluster (for its teardown order: Eventors, then the children) with no
// server of its own, and a nats-server of the test's kind, started after it so that it stops after
// the Eventors and agents that use it.

interface World {
  cluster: Cluster;
  server: NatsServer;
  dir: string;
}

type ServerOptions = NonNullable<Parameters<typeof NatsServer.start>[1]>;

/** `server` may be made from the test's folder (say, once certificates or a configuration file are in it). */
async function world(t: TestContext, server: ServerOptions | ((dir: string) => Promise<ServerOptions> | ServerOptions)): Promise<World> {
  const cluster = await Cluster.start(t, { server: false });
  const dir = tempDir(t);
  const options = typeof server === 'function' ? await server(dir) : server;
  return { cluster, dir, server: await NatsServer.start(t, options) };
}

interface AgentHow {
  /** Flags after --nats, --host and --root: --user, --pass, --token, --tls-ca ... */
  flags?: string[];
  /** Added to this process's environment: EVENTOR_NATS_PASS ... */
  env?: Record<string, string>;
}

/** `eventor agent` for `host` on the world's server, not waited for. */
function spawnAgent(w: World, host: string, how: AgentHow = {}): Child {
  return w.cluster.spawn(process.execPath, [CLI, 'agent', '--nats', w.server.url, '--host', host, '--root', FIXTURES, ...(how.flags ?? [])], { env: how.env });
}

/** `eventor agent` for `host`, once it printed that it is ready. */
async function agent(w: World, host: string, how: AgentHow = {}): Promise<Child> {
  const child = spawnAgent(w, host, how);
  await child.waitFor(new RegExp(`eventor agent ${host}: agent ${host} ready`));
  return child;
}

/** An agent that must not get in: it exits 2, saying which server refused it and why. */
async function refusedAgent(w: World, host: string, how: AgentHow, why: RegExp): Promise<Child> {
  const child = spawnAgent(w, host, how);
  const status = await child.exited;
  assert.equal(status.code, 2, `agent ${host} should exit 2: ${JSON.stringify(status)}\n${child.output()}`);
  assert.match(child.output(), new RegExp(`eventor: NatsConnectionError: NATS at ${escape(w.server.url)} `), child.output());
  assert.match(child.output(), why, child.output());
  assert.doesNotMatch(child.output(), /\n\s+at /, `a stack, not a message:\n${child.output()}`);
  return child;
}

/** `eventor trigger ...` to its end. */
async function cli(w: World, args: string[], env?: Record<string, string>): Promise<{ status: ExitStatus; output: string }> {
  const child = w.cluster.spawn(process.execPath, [CLI, ...args], { env });
  const status = await child.exited;
  return { status, output: child.output() };
}

/** The NUL-separated arguments of a live process, as `ps` shows them to every user of the host ('' without /proc). */
function commandLine(child: Child): string {
  return PROC ? readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').join(' ') : '';
}

interface RemoteRun extends Supervised {
  store: string;
  logdir: string;
  runs: string;
}

/**
 * A flow on a durable store whose steps all run on agents: `s` on n1 and n2 (it logs `hello from
 * <host>`, relayed to this console), `prog`, a program on n1 whose output is relayed too, and
 * `held` on n2, which waits at a gate so that the run is still going while a test triggers `go`
 * from outside (its step `went` runs here).
 */
function remoteFlow(w: World, label: string, nats: Partial<NatsSettings>): RemoteRun & { gate: string } {
  const store = join(w.dir, `store-${label}`);
  const logdir = join(w.dir, `logs-${label}`);
  const runs = join(w.dir, `runs-${label}`);
  const gate = w.cluster.gate(join(w.dir, `gate-${label}`));
  const supervised = w.cluster.eventor({ store, nats: { servers: w.server.url, agentTimeout: 20, ...nats }, config: { logdir } });
  const { ev } = supervised;
  const start = ev.addEvent('start');
  const go = ev.addEvent('go');
  ev.addAssoc(start, ev.addStep('s', { ...code('says', runs, 'hello'), hosts: ['n1', 'n2'] }));
  ev.addAssoc(start, ev.addStep('prog', { command: ['echo', 'output of a program on n1'], hosts: ['n1'] }));
  ev.addAssoc(start, ev.addStep('held', { ...code('gated', runs, gate), hosts: ['n2'] }));
  ev.addAssoc(go, ev.addStep('went', { func: () => 'went' }));
  ev.triggerEvent(start, 1);
  return { ...supervised, store, logdir, runs, gate };
}

/**
 * Runs remoteFlow to its end: while `held` waits on n2, `eventor trigger go` (with `trigger`'s
 * credentials) fires `go`; then the gate opens. Asserts that every step ran where it should.
 */
async function runRemoteFlow(w: World, flow: RemoteRun & { gate: string }, trigger: AgentHow): Promise<{ triggered: string }> {
  const { ev, recorder, lines, runs } = flow;
  const running = ev.run();
  try {
    await until(() => countOf(runs, 'n2 held/1 start') === 1, 'held to start on n2', 30_000, () => `${recorder.describe()}\n${lines.join('\n')}`);
    const fired = await cli(w, ['trigger', 'go', '--sequence', '1', '--run', ev.runId, '--nats', w.server.url, ...(trigger.flags ?? [])], trigger.env);
    assert.equal(fired.status.code, 0, fired.output);
    assert.match(fired.output, new RegExp(`triggered go \\(sequence 1\\) in run ${escape(ev.runId)}`));
    await until(() => recorder.statuses('went', '1').includes('success'), 'went to succeed', 30_000, () => recorder.describe());
    writeFileSync(flow.gate, '');
    assert.equal(await running, true, `${recorder.describe()}\n${lines.join('\n')}`);
    for (const host of ['n1', 'n2']) {
      assert.equal(recorder.find(`s@${host}`, '1', 'success').host, host);
      assert.equal(countOf(runs, `${host} s@${host}/1 ran`), 1, linesOf(runs).join(' | '));
      assert.ok(lines.some((line) => line.includes(`hello from ${host}`)), `the log line of s@${host} reached the console:\n${lines.join('\n')}`);
    }
    assert.equal(recorder.find('prog', '1', 'success').host, 'n1');
    assert.ok(lines.some((line) => line.includes('output of a program on n1')), lines.join('\n'));
    assert.equal(recorder.find('held', '1', 'success').host, 'n2');
    return { triggered: fired.output };
  } finally {
    writeFileSync(flow.gate, '');
    await running.catch(() => undefined);
    await ev.close();
  }
}

/** A supervisor that must not get in: run() is a NatsConnectionError naming the server, before a task starts or the store exists. */
async function refusedRun(w: World, label: string, nats: Partial<NatsSettings>, why: RegExp): Promise<{ error: NatsConnectionError; lines: string[] }> {
  const store = join(w.dir, `store-${label}`);
  const runs = join(w.dir, `runs-${label}`);
  const { ev, lines, recorder } = w.cluster.eventor({ store, nats: { servers: w.server.url, agentTimeout: 20, ...nats }, config: { logdir: join(w.dir, `logs-${label}`) } });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { ...code('record', runs), hosts: ['n1'] }));
  ev.triggerEvent(start, 1);
  const error = await errorOf(() => ev.run());
  await ev.close();
  assert.ok(error instanceof NatsConnectionError, `${label}: a NatsConnectionError, not ${inspect(error)}`);
  assert.match(error.message, new RegExp(`^NATS at ${escape(w.server.url)} `), `${label}: the message names the server: ${error.message}`);
  assert.match(error.message, why, `${label}: ${error.message}`);
  assert.equal(recorder.records.length, 0, `${label}: no task started: ${recorder.describe()}`);
  assert.equal(existsSync(runs), false, `${label}: no step ran on an agent`);
  assert.equal(existsSync(store), false, `${label}: the store folder was not created`);
  return { error, lines };
}

// ---------------------------------------------------------------------------------------------
// The search for secrets.

/** Every file under `dir`, by path. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

/**
 * Looks for the bytes of each secret in whatever it is shown, and fails naming where it found one
 * (with a little of what is around it). `searched` lists what it looked at, for the test to check
 * that it did look where it meant to.
 */
class SecretSearch {
  readonly searched: string[] = [];
  private readonly needles: { name: string; bytes: Buffer }[];

  constructor(secrets: Record<string, string>) {
    this.needles = Object.entries(secrets).map(([name, value]) => ({ name, bytes: Buffer.from(value, 'utf8') }));
  }

  in(where: string, content: string | Uint8Array): void {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    for (const { name, bytes: needle } of this.needles) {
      const at = bytes.indexOf(needle);
      if (at >= 0) {
        const around = bytes.subarray(Math.max(0, at - 120), at + needle.length + 60).toString('utf8');
        assert.fail(`${where} holds the ${name}: …${around}…`);
      }
    }
    this.searched.push(where);
  }

  /** An error as a person or a log may see it: message, stack, own fields and every cause. */
  error(where: string, error: unknown): void {
    this.in(`${where} (inspect)`, inspect(error, { depth: 20 }));
    for (let cause = error, depth = 0; cause instanceof Error && depth < 20; cause = cause.cause, depth++) {
      this.in(`${where} (message ${depth})`, cause.message);
      this.in(`${where} (stack ${depth})`, cause.stack ?? '');
      this.in(`${where} (JSON ${depth})`, JSON.stringify(cause, Object.getOwnPropertyNames(cause)));
    }
  }

  /** Every byte of every file under `dir` (a store folder, a log folder). */
  files(dir: string): number {
    const files = filesUnder(dir);
    for (const file of files) this.in(relative(dir, file) ? `${file}` : dir, readFileSync(file));
    return files.length;
  }

  /** Every key and value of a LevelDB store, as the database hands them out (LevelDB may compress its tables). */
  async records(dir: string): Promise<number> {
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open({ createIfMissing: false });
    let count = 0;
    try {
      for await (const [key, value] of db.iterator()) {
        this.in(`record ${key.toString('utf8').replace(/\0/g, '/')} of ${dir} (key)`, key);
        this.in(`record ${key.toString('utf8').replace(/\0/g, '/')} of ${dir}`, value);
        count++;
      }
    } finally {
      await db.close();
    }
    return count;
  }

  lines(where: string, lines: string[]): void {
    lines.forEach((line, index) => this.in(`${where} line ${index + 1}`, line));
  }
}

/**
 * Searches a finished remoteFlow for the secrets: its console lines, its JSON log, its store
 * folder's bytes and records. Checks too that there was something to search: the log holds the
 * agents' lines and the store the run id, so an empty search cannot pass for a clean one.
 */
async function searchRun(search: SecretSearch, flow: RemoteRun): Promise<void> {
  assert.ok(flow.lines.length > 5, flow.lines.join('\n'));
  search.lines('console', flow.lines);
  const logs = filesUnder(flow.logdir);
  assert.equal(logs.length, 1, `one JSON log file: ${logs.join(', ')}`);
  const log = readFileSync(logs[0], 'utf8');
  assert.match(log, /hello from n1/, 'the JSON log has the relayed lines');
  search.files(flow.logdir);
  const files = filesUnder(flow.store);
  assert.ok(files.length > 0, 'the store folder has files');
  assert.ok(
    files.some((file) => readFileSync(file).includes(Buffer.from(flow.ev.runId))),
    `the raw files of the store show what they hold (the run id), so a search of their bytes means something: ${files.join(', ')}`,
  );
  search.files(flow.store);
  assert.ok((await search.records(flow.store)) > 3, 'the store holds the run and its tasks');
}

/** The agents' output and, for those given their secrets by environment, their process arguments. */
function searchAgents(search: SecretSearch, agents: Record<string, Child>, byEnvironment: string[], commandLines: Record<string, string>): void {
  for (const [host, child] of Object.entries(agents)) search.in(`the output of agent ${host}`, child.output());
  for (const host of byEnvironment) search.in(`the arguments of agent ${host} (/proc/pid/cmdline)`, commandLines[host]);
}

// ---------------------------------------------------------------------------------------------
// 1. User and password.

test('user and password: a flow with config.nats user/pass runs on agents given --user/--pass and EVENTOR_NATS_USER/PASS, eventor trigger gets in with them, and no secret shows anywhere', LIMIT, async (t) => {
  const user = 'eventor-user';
  const pass = secret('pass');
  const w = await world(t, { user, pass });
  const flags = await agent(w, 'n1', { flags: ['--user', user, '--pass', pass] });
  const byEnv = await agent(w, 'n2', { env: { EVENTOR_NATS_USER: user, EVENTOR_NATS_PASS: pass } });
  const commandLines = { n1: commandLine(flags), n2: commandLine(byEnv) };
  if (PROC) {
    assert.ok(commandLines.n1.includes(pass), 'the search of process arguments finds a password given by flag (it shows in ps: use the variables)');
    assert.ok(commandLines.n2.includes('agent --nats') && !commandLines.n2.includes('--pass'), commandLines.n2);
  }

  // A token beside the password (a server with a user ignores it): one run that holds two secrets.
  const token = secret('token');
  const flow = remoteFlow(w, 'run', { user, pass, token });
  const { triggered } = await runRemoteFlow(w, flow, { env: { EVENTOR_NATS_USER: user, EVENTOR_NATS_PASS: pass } });

  const search = new SecretSearch({ password: pass, token });
  assert.throws(() => search.in('a planted line', `the password is ${pass}.`), /a planted line holds the password: …the password is pass-/, 'the search finds what it looks for');
  await searchRun(search, flow);
  search.in('the output of eventor trigger', triggered);
  searchAgents(search, { n1: flags, n2: byEnv }, ['n2'], commandLines);
});

test('user and password: a wrong password is a NatsConnectionError before any task starts, and an agent with one exits 2 naming the server; neither shows a password', LIMIT, async (t) => {
  const user = 'eventor-user';
  const pass = secret('pass');
  const wrong = secret('wrong');
  const w = await world(t, { user, pass });
  // Someone is there to run the task if it were sent.
  await agent(w, 'n1', { env: { EVENTOR_NATS_USER: user, EVENTOR_NATS_PASS: pass } });
  const search = new SecretSearch({ password: pass, 'wrong password': wrong });
  const refusedCreds = /refused the credentials \(Authorization Violation\): check config\.nats user\/pass/;

  for (const [label, nats] of [
    ['wrong password', { user, pass: wrong }],
    ['wrong user', { user: 'somebody', pass }],
    ['no password', { user }],
    ['nothing', {}],
  ] as const) {
    const { error, lines } = await refusedRun(w, label.replace(/ /g, '-'), nats, refusedCreds);
    search.error(`the error of a run with ${label}`, error);
    search.lines(`the console of a run with ${label}`, lines);
  }

  const byFlag = await refusedAgent(w, 'n2', { flags: ['--user', user, '--pass', wrong] }, /refused the credentials/);
  const byEnv = await refusedAgent(w, 'n3', { env: { EVENTOR_NATS_USER: user, EVENTOR_NATS_PASS: wrong } }, /refused the credentials/);
  const none = await refusedAgent(w, 'n4', {}, /refused the credentials/);
  for (const [name, child] of Object.entries({ 'n2 (--pass)': byFlag, 'n3 (EVENTOR_NATS_PASS)': byEnv, 'n4 (none)': none })) search.in(`the output of agent ${name}`, child.output());

  // sendTrigger from code, with the wrong password and with the right one for a run that is not there.
  search.error('sendTrigger with a wrong password', await errorOf(() => sendTrigger({ nats: { servers: w.server.url, user, pass: wrong }, runId: 'nope', event: 'go', sequence: 1 })));
  const refused = await errorOf(() => sendTrigger({ nats: { servers: w.server.url, user, pass }, runId: 'nope', event: 'go', sequence: 1, timeoutMs: 2_000 }));
  assert.ok(refused instanceof TriggerRefusedError, inspect(refused));
  search.error('sendTrigger to a run that is not there', refused);
});

// ---------------------------------------------------------------------------------------------
// 2. Token.

test('token: a flow with config.nats.token runs on agents given --token and EVENTOR_NATS_TOKEN; a wrong token is refused on both sides; no token shows anywhere', LIMIT, async (t) => {
  const token = secret('token');
  const wrong = secret('wrongtoken');
  const w = await world(t, { token });
  const flags = await agent(w, 'n1', { flags: ['--token', token] });
  const byEnv = await agent(w, 'n2', { env: { EVENTOR_NATS_TOKEN: token } });
  const commandLines = { n1: commandLine(flags), n2: commandLine(byEnv) };
  if (PROC) assert.ok(commandLines.n1.includes(token) && !commandLines.n2.includes('--token'), 'the flag shows in the arguments; the variable does not');

  const flow = remoteFlow(w, 'run', { token });
  const { triggered } = await runRemoteFlow(w, flow, { flags: ['--token', token] });

  const search = new SecretSearch({ token, 'wrong token': wrong });
  await searchRun(search, flow);
  search.in('the output of eventor trigger', triggered);
  searchAgents(search, { n1: flags, n2: byEnv }, ['n2'], commandLines);

  const refusedToken = /refused the credentials \(Authorization Violation\): check config\.nats .*token/;
  for (const [label, nats] of [
    ['wrong token', { token: wrong }],
    ['no token', {}],
  ] as const) {
    const { error, lines } = await refusedRun(w, label.replace(/ /g, '-'), nats, refusedToken);
    search.error(`the error of a run with ${label}`, error);
    search.lines(`the console of a run with ${label}`, lines);
  }
  const byFlag = await refusedAgent(w, 'n3', { flags: ['--token', wrong] }, /refused the credentials/);
  const byEnvWrong = await refusedAgent(w, 'n4', { env: { EVENTOR_NATS_TOKEN: wrong } }, /refused the credentials/);
  search.in('the output of agent n3 (--token)', byFlag.output());
  search.in('the output of agent n4 (EVENTOR_NATS_TOKEN)', byEnvWrong.output());
});

// ---------------------------------------------------------------------------------------------
// 3. An nkey (there is no nsc here to make accounts and .creds files; an nkey user needs none).

test('nkey: a flow with config.nats.nkey runs on agents given --nkey and EVENTOR_NATS_NKEY; a foreign or malformed seed is refused; no seed shows anywhere', LIMIT, async (t) => {
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  const foreign = new TextDecoder().decode(nkeys.createUser().getSeed());
  const malformed = secret('SUnotaseed');
  const nw = await world(t, (dir) => {
    writeFileSync(join(dir, 'nkey.conf'), `authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }\n`);
    return { config: join(dir, 'nkey.conf') };
  });
  const flags = await agent(nw, 'n1', { flags: ['--nkey', seed] });
  const byEnv = await agent(nw, 'n2', { env: { EVENTOR_NATS_NKEY: seed } });
  const commandLines = { n1: commandLine(flags), n2: commandLine(byEnv) };
  if (PROC) assert.ok(commandLines.n1.includes(seed) && !commandLines.n2.includes('--nkey'));

  const flow = remoteFlow(nw, 'run', { nkey: seed });
  const { triggered } = await runRemoteFlow(nw, flow, { env: { EVENTOR_NATS_NKEY: seed } });

  const search = new SecretSearch({ seed, 'foreign seed': foreign, 'malformed seed': malformed });
  await searchRun(search, flow);
  search.in('the output of eventor trigger', triggered);
  searchAgents(search, { n1: flags, n2: byEnv }, ['n2'], commandLines);

  const { error, lines } = await refusedRun(nw, 'foreign', { nkey: foreign }, /refused the credentials/);
  search.error('the error of a run with a foreign seed', error);
  search.lines('the console of a run with a foreign seed', lines);
  // A seed that is not one: whatever the error says, it does not repeat the seed.
  const bad = await refusedRun(nw, 'malformed', { nkey: malformed }, /nkeys: invalid encoded key/);
  search.error('the error of a run with a malformed seed', bad.error);
  const badAgent = spawnAgent(nw, 'n3', { env: { EVENTOR_NATS_NKEY: malformed } });
  assert.equal((await badAgent.exited).code, 2, badAgent.output());
  search.in('the output of agent n3 (malformed EVENTOR_NATS_NKEY)', badAgent.output());
  // A .creds file that is no such thing, holding a would-be seed: its contents are not shown either.
  const creds = join(nw.dir, 'bad.creds');
  writeFileSync(creds, `-----BEGIN USER NKEY SEED-----\n${malformed}\n------END USER NKEY SEED------\n`);
  const badCreds = await refusedRun(nw, 'creds', { credsFile: creds }, /refused the credentials \(unable to parse credentials\)/);
  search.error('the error of a run with a malformed .creds file', badCreds.error);
});

// ---------------------------------------------------------------------------------------------
// 4. TLS.

const run = promisify(execFile);

interface Certificates {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing of this server's. */
  otherCa: string;
}

/** A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, all made by openssl in `dir`. */
async function makeCertificates(dir: string): Promise<Certificates> {
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const ca = (name: string) =>
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=Eventor test ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  await Promise.all([ca('ca'), ca('other-ca')]);
  for (const [name, subject, extensions] of [
    ['server', '/CN=localhost', 'server-ext.cnf'],
    ['client', '/CN=eventor-agent', 'client-ext.cnf'],
  ] as const) {
    await openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', subject);
    await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', join(SECURITY, extensions));
  }
  const { stdout } = await openssl('x509', '-in', 'server.pem', '-noout', '-ext', 'subjectAltName');
  assert.match(stdout, /IP Address:127\.0\.0\.1/, stdout);
  return { ca: join(dir, 'ca.pem'), serverCert: join(dir, 'server.pem'), serverKey: join(dir, 'server-key.pem'), clientCert: join(dir, 'client.pem'), clientKey: join(dir, 'client-key.pem'), otherCa: join(dir, 'other-ca.pem') };
}

const haveOpenssl = run('openssl', ['version']).then(
  () => true,
  () => false,
);

async function tlsWorld(t: TestContext, verify: boolean): Promise<{ w: World; certs: Certificates }> {
  let certs: Certificates | undefined;
  const w = await world(t, async (dir) => {
    certs = await makeCertificates(dir);
    return { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, verify } };
  });
  return { w, certs: certs! };
}

test('TLS: a flow with config.nats.tls runs on agents given --tls-ca/--tls-cert/--tls-key or EVENTOR_NATS_TLS_*; without the CA, or with another, the certificate is not trusted, on both sides', LIMIT, async (t) => {
  if (!(await haveOpenssl)) return t.skip('no openssl to make certificates with');
  const { w, certs } = await tlsWorld(t, false);
  const tls = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey };
  await agent(w, 'n1', { flags: ['--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey] });
  // A server that does not ask for a client certificate needs only the CA.
  await agent(w, 'n2', { env: { EVENTOR_NATS_TLS_CA: certs.ca } });
  const flow = remoteFlow(w, 'run', { tls });
  await runRemoteFlow(w, flow, { flags: ['--tls-ca', certs.ca] });

  // Not trusted: no TLS settings (the system's CAs), TLS settings without a CA, another CA.
  const untrusted = /certificate/;
  for (const [label, nats] of [
    ['no tls', {}],
    ['no ca', { tls: { cert: certs.clientCert, key: certs.clientKey } }],
    ['another ca', { tls: { ca: certs.otherCa } }],
  ] as const) {
    const { error } = await refusedRun(w, label.replace(/ /g, '-'), nats, untrusted);
    assert.doesNotMatch(error.message, /refused the credentials/, error.message);
  }
  await refusedAgent(w, 'n3', {}, /certificate/);
  await refusedAgent(w, 'n4', { flags: ['--tls-ca', certs.otherCa] }, /certificate/);
  const trigger = await cli(w, ['trigger', 'go', '--sequence', '1', '--run', 'nope', '--nats', w.server.url]);
  assert.equal(trigger.status.code, 2, trigger.output);
  assert.match(trigger.output, /NatsConnectionError: NATS at .* \(.*certificate.*\)/, trigger.output);
});

test('TLS with --tlsverify: the server takes only clients with a certificate its CA signed; without one, supervisor and agent are refused', LIMIT, async (t) => {
  if (!(await haveOpenssl)) return t.skip('no openssl to make certificates with');
  const { w, certs } = await tlsWorld(t, true);
  await agent(w, 'n1', { flags: ['--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey] });
  await agent(w, 'n2', { env: { EVENTOR_NATS_TLS_CA: certs.ca, EVENTOR_NATS_TLS_CERT: certs.clientCert, EVENTOR_NATS_TLS_KEY: certs.clientKey } });
  const flow = remoteFlow(w, 'run', { tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
  await runRemoteFlow(w, flow, { flags: ['--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey] });

  // The server drops the handshake of a client without a certificate; the client sees no reason.
  await refusedRun(w, 'no-client-cert', { tls: { ca: certs.ca } }, /cannot be reached/);
  await refusedAgent(w, 'n3', { flags: ['--tls-ca', certs.ca] }, /cannot be reached/);
  assert.match(w.server.output(), /TLS handshake error: tls: client didn't provide a certificate/);
});

test('the message of a certificate that is not trusted says to give the CA, not to start JetStream', LIMIT, async (t) => {
  if (!(await haveOpenssl)) return t.skip('no openssl to make certificates with');
  const { w } = await tlsWorld(t, false);
  const { error } = await refusedRun(w, 'no-ca', {}, /unable to verify the first certificate/);
  assert.match(error.message, /config\.nats\.tls\.ca/, error.message);
  assert.match(error.message, /--tls-ca|EVENTOR_NATS_TLS_CA/, error.message);
  assert.doesNotMatch(error.message, /start nats-server with JetStream/, error.message);
});

// ---------------------------------------------------------------------------------------------
// 5. Errors with secrets in hand.

test('errors with secrets in hand (unreachable server, bad config.nats, eventor trigger failures) never show them', LIMIT, async (t) => {
  const user = 'eventor-user';
  const pass = secret('pass');
  const token = secret('token');
  const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
  const w = await world(t, { user, pass });
  const search = new SecretSearch({ password: pass, token, seed });
  const nowhere = `nats://127.0.0.1:${await freePort()}`;

  // Nothing listens there.
  for (const [label, nats] of [
    ['user, password, token and nkey', { servers: nowhere, user, pass, token, nkey: seed }],
    ['a password in the URL', { servers: nowhere.replace('//', `//${user}:${pass}@`) }],
    ['a token in the URL', { servers: nowhere.replace('//', `//${token}@`) }],
  ] as const) {
    const { ev, lines } = w.cluster.eventor({ store: join(w.dir, 'store-nowhere'), nats, config: { logdir: join(w.dir, 'logs') } });
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('s', { ...code('record', join(w.dir, 'runs')), hosts: ['n1'] }));
    ev.triggerEvent(start, 1);
    const error = await errorOf(() => ev.run());
    await ev.close();
    assert.ok(error instanceof NatsConnectionError, `${label}: ${inspect(error)}`);
    assert.match(error.message, /^NATS at nats:\/\/(\*\*\*@)?127\.0\.0\.1:\d+ cannot be reached \(connection refused\)/, `${label}: ${error.message}`);
    search.error(`the error of an unreachable server with ${label}`, error);
    search.lines(`the console of an unreachable server with ${label}`, lines);
  }

  // config.nats that cannot be used, with secrets beside (or inside) the bad part.
  for (const [label, nats] of [
    ['no servers', { user, pass, token, nkey: seed }],
    ['an empty server', { servers: '', user, pass, token }],
    ['a list with a number', { servers: [nowhere.replace('//', `//${user}:${pass}@`), 42], pass, token }],
    ['a bad prefix', { servers: nowhere, prefix: 'a.b', user, pass, token }],
    ['a bad ackWait', { servers: nowhere, ackWait: -1, user, pass, token }],
  ] as [string, NatsSettings][]) {
    const saved = process.env.EVENTOR_NATS_URL;
    delete process.env.EVENTOR_NATS_URL;
    try {
      const { ev, lines } = w.cluster.eventor({ store: ':memory:', nats: null, config: { nats } });
      const start = ev.addEvent('start');
      ev.addAssoc(start, ev.addStep('s', { ...code('record', join(w.dir, 'runs')), hosts: ['n1'] }));
      ev.triggerEvent(start, 1);
      const error = await errorOf(() => ev.run());
      await ev.close();
      assert.ok(error instanceof ConfigError, `${label}: a ConfigError, not ${inspect(error)}`);
      assert.match(error.message, /config nats\./, `${label}: ${error.message}`);
      search.error(`the ConfigError of ${label}`, error);
      search.lines(`the console of ${label}`, lines);
    } finally {
      if (saved !== undefined) process.env.EVENTOR_NATS_URL = saved;
    }
  }

  // eventor trigger: wrong password, right password and no such run, unreachable server, a password in the URL, usage errors.
  const base = ['trigger', 'go', '--sequence', '1', '--run', 'nope'];
  const tries: { label: string; args: string[]; env?: Record<string, string>; code: number; says: RegExp }[] = [
    { label: '--pass (wrong)', args: [...base, '--nats', w.server.url, '--user', user, '--pass', `${pass}x`], code: 2, says: /NatsConnectionError: NATS at .* refused the credentials/ },
    { label: 'EVENTOR_NATS_PASS (wrong)', args: [...base, '--nats', w.server.url], env: { EVENTOR_NATS_USER: user, EVENTOR_NATS_PASS: `${pass}x` }, code: 2, says: /refused the credentials/ },
    { label: '--pass, no such run', args: [...base, '--nats', w.server.url, '--user', user, '--pass', pass], code: 1, says: /TriggerRefusedError: cannot trigger event go in run nope: no running flow listens for it/ },
    { label: '--token on a user/pass server', args: [...base, '--nats', w.server.url, '--token', token], code: 2, says: /refused the credentials/ },
    { label: '--pass, unreachable', args: [...base, '--nats', nowhere, '--user', user, '--pass', pass, '--token', token, '--nkey', seed], code: 2, says: /cannot be reached/ },
    // Credentials in the URL authenticate as --user and --pass do: the trigger gets through to NATS, and finds no such run.
    { label: 'a password in --nats', args: [...base, '--nats', w.server.url.replace('//', `//${user}:${pass}@`)], code: 1, says: /TriggerRefusedError: cannot trigger event go in run nope: no running flow listens for it/ },
    { label: 'a wrong password in --nats', args: [...base, '--nats', w.server.url.replace('//', `//${user}:${pass}x@`)], code: 2, says: /NATS at nats:\/\/\*\*\*@127\.0\.0\.1.* refused the credentials/ },
    { label: 'no --run', args: ['trigger', 'go', '--sequence', '1', '--nats', w.server.url, '--user', user, '--pass', pass], code: 2, says: /required option '--run <id>' not specified/ },
    { label: 'too many arguments', args: [...base, 'extra', '--nats', w.server.url, '--pass', pass], code: 2, says: /too many arguments/ },
    { label: 'an unknown flag', args: [...base, '--nats', w.server.url, '--pass', pass, '--password', pass], code: 2, says: /unknown option '--password'/ },
    { label: 'agent without --root', args: ['agent', '--nats', w.server.url, '--host', 'n9', '--user', user, '--pass', pass], code: 2, says: /required option '--root <dir>' not specified/ },
  ];
  for (const { label, args, env, code: expected, says } of tries) {
    const { status, output } = await cli(w, args, env);
    assert.equal(status.code, expected, `eventor ${label}: ${output}`);
    assert.match(output, says, `eventor ${label}: ${output}`);
    search.in(`the output of eventor ${label}`, output);
  }
  assert.ok(search.searched.length > 50, search.searched.join('\n'));
});

// ---------------------------------------------------------------------------------------------
// 6. Defects found while writing these tests.

test('a password in the URL of a NATS without JetStream does not show in the TransportError', LIMIT, async (t) => {
  const pass = secret('pass');
  const w = await world(t, { jetstream: false });
  const servers = w.server.url.replace('//', `//eventor:${pass}@`);
  const { ev } = w.cluster.eventor({ store: join(w.dir, 'store'), nats: { servers }, config: { logdir: join(w.dir, 'logs') } });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('s', { ...code('record', join(w.dir, 'runs')), hosts: ['n1'] }));
  ev.triggerEvent(start, 1);
  const error = await errorOf(() => ev.run());
  await ev.close();
  assert.ok(error instanceof TransportError, inspect(error));
  assert.match(error.message, /has no usable JetStream/, error.message);
  new SecretSearch({ password: pass }).error('the TransportError of a server without JetStream', error);
});

test('a password in a NATS URL never shows in an error: config.nats given as a URL string or a list, a password with / or @ in it', LIMIT, async (t) => {
  const pass = secret('pass');
  const w = await world(t, {});
  const nowhere = `127.0.0.1:${await freePort()}`;
  const inUrl = (password: string, where = w.server.url.slice('nats://'.length)) => `nats://eventor:${password}@${where}`;
  const tries: [string, unknown, typeof ConfigError | typeof NatsConnectionError][] = [
    ['config.nats as a URL string', inUrl(pass), ConfigError],
    ['config.nats as a list of URLs', [inUrl(pass)], ConfigError],
    ['a password with a / in the URL', { servers: inUrl(`a/${pass}`, nowhere) }, NatsConnectionError],
    ['a password with an @ in the URL', { servers: inUrl(`a@${pass}`, nowhere) }, NatsConnectionError],
  ];
  // Each case on its own, so that the failure lists every one that leaks.
  const leaks: string[] = [];
  for (const [label, nats, kind] of tries) {
    const { ev, lines } = w.cluster.eventor({ store: ':memory:', nats: null, config: { nats: nats as NatsSettings } });
    const start = ev.addEvent('start');
    ev.addAssoc(start, ev.addStep('s', { ...code('record', join(w.dir, 'runs')), hosts: ['n1'] }));
    ev.triggerEvent(start, 1);
    const error = await errorOf(() => ev.run());
    await ev.close();
    assert.ok(error instanceof kind, `${label}: a ${kind.name}, not ${inspect(error)}`);
    const search = new SecretSearch({ password: pass });
    try {
      search.error(`the ${kind.name} of ${label}`, error);
      search.lines(`the console of ${label}`, lines);
    } catch (leak) {
      leaks.push((leak as Error).message);
    }
  }
  assert.deepEqual(leaks, []);
});

test('an agent started with EVENTOR_NATS_PASS/TOKEN does not hand them to the programs of its steps', LIMIT, async (t) => {
  const user = 'eventor-user';
  const pass = secret('pass');
  const w = await world(t, { user, pass });
  await agent(w, 'n1', { env: { EVENTOR_NATS_USER: user, EVENTOR_NATS_PASS: pass } });
  const { ev, lines } = w.cluster.eventor({ nats: { servers: w.server.url, user, pass } });
  const start = ev.addEvent('start');
  ev.addAssoc(start, ev.addStep('env', { command: ['sh', '-c', 'echo "the step sees EVENTOR_NATS_PASS=${EVENTOR_NATS_PASS:-nothing}"'], hosts: ['n1'] }));
  ev.triggerEvent(start, 1);
  assert.equal(await ev.run(), true, lines.join('\n'));
  assert.ok(lines.some((line) => line.includes('the step sees EVENTOR_NATS_PASS=')), lines.join('\n'));
  new SecretSearch({ password: pass }).lines('the console of a step that prints its environment', lines);
});
