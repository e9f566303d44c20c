// The cluster rows of `npm run bench`: steps on agents over NATS, each beside a bare NATS baseline
// measured in the same run. The bench starts its own nats-server (never the system one on 4222)
// and its own agents, and stops and removes all of it at the end, even when a row fails.
//
// Run alone (say, under a profiler): node --import tsx bench/cluster.ts [chain|pinned|queue ...]
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Eventor, StepStatus, type RunConfigInput } from '../dist/index.js';

const NATS_SERVER = '/usr/sbin/nats-server';
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const PEER = fileURLToPath(new URL('./nats-peer.mjs', import.meta.url));
/** The agents' --root: it holds noop.mjs, which the steps name as './noop.mjs'. */
const AGENT_ROOT = fileURLToPath(new URL('./agent-root', import.meta.url));
const READY_MS = 20_000;
const STOP_MS = 5_000;

/** A row as bench/run.ts prints it, and the keys of its figures in the JSON line. */
export interface ClusterRow {
  name: string;
  unit: string;
  ours: number;
  bare: number;
  target: string;
  better: 'lower' | 'higher';
  note?: string;
  json: Record<string, number | string | null>;
}

// -- processes ----------------------------------------------------------------------------------

/** A child whose stderr is watched for a line, and whose ending is awaited. */
interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  /** The last 4 KB of what it printed, for failure messages. */
  tail(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** Every child still running and every store folder not yet removed: killed and removed if this process ends before it did so itself. */
const live = new Set<ChildProcess>();
const folders = new Set<string>();
function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  folders.clear();
}
process.on('exit', killAll);

/** While the cluster rows run, an interrupt (Ctrl-C) or SIGTERM kills what they started before the bench ends. */
function guardSignals(): () => void {
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => {
    const onSignal = () => {
      killAll();
      for (const [s, h] of handlers) process.off(s, h);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
    return [signal, onSignal] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}

function launch(name: string, command: string, args: string[]): Proc {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let text = '';
  let ended = false;
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const waiter of [...waiters]) waiter();
  };
  const append = (chunk: string) => {
    text = (text + chunk).slice(-4096);
    changed();
  };
  child.stdout!.setEncoding('utf8').on('data', append);
  child.stderr!.setEncoding('utf8').on('data', append);
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => {
      live.delete(child);
      ended = true;
      changed();
      resolve();
    });
    child.once('error', (error) => {
      append(`\n[${command}: ${error.message}]\n`);
      if (child.pid === undefined) {
        live.delete(child);
        ended = true;
        changed();
        resolve();
      }
    });
  });
  const waitFor = (pattern: RegExp, timeoutMs = READY_MS) =>
    new Promise<void>((resolve, reject) => {
      let seen = '';
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      const check = () => {
        seen = text;
        if (pattern.test(seen)) {
          done();
          resolve();
        } else if (ended) {
          done();
          reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it printed ${pattern}; it printed: ${seen.trim().split('\n').slice(-5).join(' | ')}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${name} did not print ${pattern} within ${timeoutMs / 1000} s; it printed: ${seen.trim().split('\n').slice(-5).join(' | ')}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { name, child, exited, tail: () => text, waitFor };
}

/** SIGTERM, then SIGKILL if it has not gone within STOP_MS; resolves once it has exited. */
export async function stop(proc: Proc): Promise<void> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), STOP_MS);
  await proc.exited;
  clearTimeout(timer);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/** The bench's own nats-server with JetStream, on a free port and a temp store folder. */
interface Nats {
  url: string;
  folder: string;
  server: Proc;
}

export async function startNats(): Promise<Nats> {
  const folder = mkdtempSync(join(tmpdir(), 'eventor-bench-nats-'));
  folders.add(folder);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const server = launch(`nats-server on port ${port}`, NATS_SERVER, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(folder, 'js')]);
    try {
      await server.waitFor(/Server is ready/);
      return { url: `nats://127.0.0.1:${port}`, folder, server };
    } catch (error) {
      await stop(server);
      // Another process can take the port between freePort() and the server binding it.
      if (attempt < 3 && /address already in use/i.test(server.tail())) continue;
      rmSync(folder, { recursive: true, force: true });
      folders.delete(folder);
      throw error;
    }
  }
}

export async function stopNats(nats: Nats): Promise<void> {
  await stop(nats.server);
  rmSync(nats.folder, { recursive: true, force: true, maxRetries: 3 });
  folders.delete(nats.folder);
}

/** Node options for the agents: BENCH_AGENT_NODE_ARGS (say, '--cpu-prof --cpu-prof-dir=DIR'), with HOST replaced by each agent's host. */
const agentNodeArgs = (host: string) => (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean).map((arg) => arg.replace(/HOST/g, host));

/** Agents n1..nN, each also serving the queue 'work', started at once; resolves when every one printed its ready line. */
export async function startAgents(url: string, count: number, maxConcurrent: number): Promise<Proc[]> {
  const agents = Array.from({ length: count }, (_, i) => {
    const host = `n${i + 1}`;
    return launch(`agent ${host}`, process.execPath, [...agentNodeArgs(host), CLI, 'agent', '--nats', url, '--host', host, '--root', AGENT_ROOT, '--queue', 'work', '--max-concurrent', String(maxConcurrent)]);
  });
  try {
    await Promise.all(agents.map((agent, i) => agent.waitFor(new RegExp(`agent n${i + 1} ready`))));
  } catch (error) {
    await Promise.all(agents.map(stop));
    throw error;
  }
  return agents;
}

/** Bare-baseline peers (bench/nats-peer.mjs), each waited for until it printed its ready line. */
async function startPeers(url: string, peers: string[][]): Promise<Proc[]> {
  const started = peers.map((args) => launch(`peer ${args.join(' ')}`, process.execPath, [PEER, args[0], url, ...args.slice(1)]));
  try {
    await Promise.all(started.map((peer) => peer.waitFor(/peer \S+ ready/)));
  } catch (error) {
    await Promise.all(started.map(stop));
    throw error;
  }
  return started;
}

// -- figures --------------------------------------------------------------------------------------

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}
const median = (values: number[]) => percentile(values, 50);

/** Unmeasured runs first, so that every figure measures code the JIT has compiled and streams that exist. */
const WARMUP = 1;

// -- Eventor's side -------------------------------------------------------------------------------

const quiet = (url: string): RunConfigInput => ({ nats: { servers: url }, logging: { console: false } }) as RunConfigInput;
const remoteNoop = { module: './noop.mjs', export: 'noop', args: [1] };

/** A chain of `length` steps each pinned to n1: step i's success triggers the event that starts step i + 1. */
function remoteChainFlow(url: string, length: number): Eventor {
  const ev = new Eventor({ name: 'bench-cluster-chain', store: ':memory:', config: quiet(url) });
  const events = Array.from({ length }, (_, i) => ev.addEvent(`e${i}`));
  for (let i = 0; i < length; i++) {
    const triggers = i + 1 < length ? { [StepStatus.success]: [events[i + 1]] } : {};
    ev.addAssoc(events[i], ev.addStep(`s${i}`, { ...remoteNoop, hosts: ['n1'], triggers }));
  }
  ev.triggerEvent(events[0], 1);
  return ev;
}

/** One event starting `sequences` sequences of one remote step, on `hosts` (one task per host and sequence) or a queue. */
function remoteFanOutFlow(url: string, sequences: number, where: { hosts: string[] } | { queue: string }): Eventor {
  const ev = new Eventor({ name: 'bench-cluster-fanout', store: ':memory:', config: quiet(url) });
  const go = ev.addEvent('go');
  ev.addAssoc(go, ev.addStep('noop', { ...remoteNoop, ...where }));
  for (let i = 1; i <= sequences; i++) ev.triggerEvent(go, i);
  return ev;
}

/** Runs `ev`, noting performance.now() at every success transition (and at its first transition of all). */
async function runWatched(ev: Eventor): Promise<{ first: number; successes: number[]; wholeMs: number }> {
  let first = Number.NaN;
  const successes: number[] = [];
  ev.subscribe((transition) => {
    const now = performance.now();
    if (Number.isNaN(first)) first = now;
    if (transition.status === 'success') successes.push(now);
  });
  const started = performance.now();
  try {
    if (!(await ev.run())) throw new Error(`benchmark flow ${ev.name} failed`);
  } finally {
    await ev.close();
  }
  return { first, successes, wholeMs: performance.now() - started };
}

/** Per-step latencies of one remote chain, µs: the time between consecutive success transitions. */
async function chainLatencies(url: string, length: number): Promise<number[]> {
  const { successes } = await runWatched(remoteChainFlow(url, length));
  if (successes.length !== length) throw new Error(`the chain saw ${successes.length} successes of ${length}`);
  return successes.slice(1).map((at, i) => (at - successes[i]) * 1000);
}

/** Tasks/s of one remote fan-out, from its first task transition to its last success; and the whole run's ms. */
async function fanOutRate(url: string, tasks: number, sequences: number, where: { hosts: string[] } | { queue: string }): Promise<{ rate: number; wholeMs: number }> {
  const { first, successes, wholeMs } = await runWatched(remoteFanOutFlow(url, sequences, where));
  // A step on several hosts also reports the step's own join; only the per-host tasks count.
  const counted = successes.length;
  if (counted < tasks) throw new Error(`the fan-out saw ${counted} successes of ${tasks} tasks`);
  return { rate: tasks / ((successes[tasks - 1] - first) / 1000), wholeMs };
}

// -- the bare side ----------------------------------------------------------------------------

/** Per-request round trips, µs, of `count` sequential core NATS requests to the responder peer. */
async function bareRequests(nc: NatsConnection, count: number): Promise<number[]> {
  const payload = new Uint8Array(200);
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await nc.request('bench.echo', payload, { timeout: 5000 });
    times.push((performance.now() - started) * 1000);
  }
  return times;
}

/** The bare baseline's streams: a work queue of tasks and a stream of outcomes, as Eventor's, under other names. */
async function bareStreams(nc: NatsConnection, hosts: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const name of ['BENCH_TASKS', 'BENCH_OUTCOMES']) await jsm.streams.delete(name).catch(() => undefined);
  await jsm.streams.add({ name: 'BENCH_TASKS', subjects: ['bench.tasks.>'], retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: nanos(120_000) });
  await jsm.streams.add({ name: 'BENCH_OUTCOMES', subjects: ['bench.out.>'], retention: RetentionPolicy.Limits, storage: StorageType.File, duplicate_window: nanos(120_000) });
  const consumer = (name: string, filter: string) => jsm.consumers.add('BENCH_TASKS', { durable_name: name, ack_policy: AckPolicy.Explicit, filter_subject: filter, ack_wait: nanos(30_000), deliver_policy: DeliverPolicy.All, max_deliver: -1, max_ack_pending: -1 });
  for (let h = 1; h <= hosts; h++) await consumer(`host_n${h}`, `bench.tasks.host.n${h}.>`);
  await consumer('queue_work', 'bench.tasks.queue.work.>');
}

let bareRound = 0;

/**
 * Tasks/s of `tasks` tasks by hand: each published to the tasks stream (awaiting its ack, all at
 * once, as the supervisor dispatches), taken by a peer, answered with an outcome to the outcomes
 * stream; timed from the first publish to the last outcome heard on a core subscription.
 */
async function bareFanOut(nc: NatsConnection, tasks: number, subjectOf: (i: number) => string): Promise<number> {
  const round = bareRound++;
  const payload = new Uint8Array(300);
  const js = jetstream(nc);
  let heard = 0;
  let settle!: () => void;
  const all = new Promise<void>((resolve) => (settle = resolve));
  const sub = nc.subscribe(`bench.out.r${round}.*`, {
    callback: () => {
      if (++heard === tasks) settle();
    },
  });
  await nc.flush();
  const started = performance.now();
  await Promise.all(Array.from({ length: tasks }, (_, i) => js.publish(`${subjectOf(i)}.r${round}.${i}`, payload, { msgID: `r${round}-${i}`, timeout: 10_000 })));
  const timeout = setTimeout(() => settle(), 60_000);
  await all;
  clearTimeout(timeout);
  const ms = performance.now() - started;
  sub.unsubscribe();
  if (heard < tasks) throw new Error(`the bare fan-out heard ${heard} outcomes of ${tasks} within 60 s`);
  return tasks / (ms / 1000);
}

// -- the rows ---------------------------------------------------------------------------------

const CHAIN = 1000;
const CHAIN_RUNS = 3;
const FANOUT = 10_000;
const FANOUT_RUNS = 3;
/** The warm-up fan-out is smaller: it only has to compile the code and make the streams and consumers. */
const FANOUT_WARMUP = 2000;
const AGENT_CONCURRENCY = 256;

/** What a row that could not be measured shows: n/a, and why. */
function failedRow(name: string, unit: string, target: string, better: 'lower' | 'higher', key: string, error: unknown): ClusterRow {
  const why = (error as Error)?.message ?? String(error);
  return { name, unit, ours: Number.NaN, bare: Number.NaN, target, better, note: `failed: ${why.slice(0, 300)}`, json: { [key]: null, [`${key}_failed`]: why } };
}

async function chainRows(nats: Nats, nc: NatsConnection): Promise<ClusterRow[]> {
  const peers = await startPeers(nats.url, [['responder']]);
  try {
    const ours: number[] = [];
    const bare: number[] = [];
    for (let r = -WARMUP; r < CHAIN_RUNS; r++) {
      const latencies = await chainLatencies(nats.url, CHAIN);
      const trips = await bareRequests(nc, CHAIN);
      if (r < 0) continue;
      ours.push(...latencies);
      bare.push(...trips);
    }
    const note = `gaps between successes, ${CHAIN_RUNS} chains pooled; bare: ${CHAIN_RUNS} × ${CHAIN.toLocaleString('en-US')} sequential core NATS requests to a responder in another process`;
    const p50 = { ours: percentile(ours, 50), bare: percentile(bare, 50) };
    const p99 = { ours: percentile(ours, 99), bare: percentile(bare, 99) };
    return [
      { name: 'cluster: chain of 1,000 remote no-op steps (p50)', unit: 'µs/step', ...p50, target: '≤ 500', better: 'lower', note, json: { cluster_chain_p50_us_per_step: Math.round(p50.ours), cluster_chain_p50_baseline_us_per_step: Math.round(p50.bare) } },
      { name: 'cluster: chain of 1,000 remote no-op steps (p99)', unit: 'µs/step', ...p99, target: '—', better: 'lower', note: 'bare: p99 of the same requests', json: { cluster_chain_p99_us_per_step: Math.round(p99.ours), cluster_chain_p99_baseline_us_per_step: Math.round(p99.bare) } },
    ];
  } finally {
    await Promise.all(peers.map(stop));
  }
}

/** A chain of `length` local no-op steps on `store`, in µs per step. */
async function storeChain(store: string, length: number): Promise<number> {
  const ev = new Eventor({ name: 'bench-store-chain', store, config: { logging: { console: false, file: false } } });
  const events = Array.from({ length }, (_, i) => ev.addEvent(`e${i}`));
  for (let i = 0; i < length; i++) {
    const triggers = i + 1 < length ? { [StepStatus.success]: [events[i + 1]] } : {};
    ev.addAssoc(events[i], ev.addStep(`s${i}`, { func: () => undefined, triggers }));
  }
  ev.triggerEvent(events[0], 1);
  const started = performance.now();
  await ev.run();
  const us = ((performance.now() - started) * 1000) / length;
  await ev.close();
  return us;
}

/** The chain on the NATS KV store, beside the same chain on a LevelDB folder, runs interleaved; medians. */
async function kvChainRow(nats: Nats): Promise<ClusterRow> {
  const folder = mkdtempSync(join(tmpdir(), 'eventor-bench-kv-'));
  try {
    const ours: number[] = [];
    const bare: number[] = [];
    for (let r = -WARMUP; r < CHAIN_RUNS; r++) {
      const kv = await storeChain(`${nats.url}/bench_kv_${r + WARMUP}`, CHAIN);
      const level = await storeChain(join(folder, `level-${r + WARMUP}`), CHAIN);
      if (r < 0) continue;
      ours.push(kv);
      bare.push(level);
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const row = { ours: median(ours), bare: median(bare) };
    return { name: 'NATS KV store: chain of 1,000 no-op steps', unit: 'µs/step', ...row, target: '—', better: 'lower', note: `median of ${CHAIN_RUNS}; bare: the same chain on a LevelDB folder, runs interleaved`, json: { kv_chain_us_per_step: Math.round(row.ours), kv_chain_level_us_per_step: Math.round(row.bare) } };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The pinned and the queue fan-out over `agents` agents, each beside its bare JetStream baseline with as many peers. */
async function fanOutRows(nats: Nats, nc: NatsConnection, agents: number, which: Set<string>): Promise<ClusterRow[]> {
  const rows: ClusterRow[] = [];
  const hosts = Array.from({ length: agents }, (_, i) => `n${i + 1}`);
  const sequences = FANOUT / agents;
  const variants = [
    {
      kind: 'pinned',
      name: `cluster: fan-out of 10,000 remote no-op tasks, host-pinned, ${agents} agents`,
      target: agents === 2 ? '≥ 15,000' : '—',
      key: `cluster_pinned_${agents}_agents`,
      where: { hosts },
      peers: hosts.map((host) => ['worker', `host_${host}`, String(AGENT_CONCURRENCY)]),
      subjectOf: (i: number) => `bench.tasks.host.${hosts[i % agents]}`,
      how: `${sequences.toLocaleString('en-US')} sequences × hosts [${hosts.join(', ')}]`,
      bareHow: `bare: 10,000 JetStream publishes to a work queue, ${agents} consumer processes (a consumer each) acking and publishing outcomes to a stream`,
    },
    {
      kind: 'queue',
      name: `cluster: fan-out of 10,000 remote no-op tasks through a queue, ${agents} agents`,
      target: agents === 2 ? '≥ 8,000' : '—',
      key: `cluster_queue_${agents}_agents`,
      where: { queue: 'work' },
      peers: hosts.map(() => ['worker', 'queue_work', String(AGENT_CONCURRENCY)]),
      subjectOf: () => 'bench.tasks.queue.work',
      how: `${FANOUT.toLocaleString('en-US')} sequences × queue 'work'`,
      bareHow: `bare: the same JetStream traffic, ${agents} consumer processes sharing one consumer, acking after the outcome`,
    },
  ].filter((variant) => which.has(variant.kind));
  if (variants.length === 0) return rows;
  const started = await startAgents(nats.url, agents, AGENT_CONCURRENCY).then(
    (procs) => ({ procs }),
    (error: unknown) => ({ error }),
  );
  try {
    for (const variant of variants) {
      if ('error' in started) {
        rows.push(failedRow(variant.name, 'tasks/s', variant.target, 'higher', `${variant.key}_tasks_per_s`, started.error));
        continue;
      }
      let peers: Proc[] = [];
      try {
        await bareStreams(nc, agents);
        peers = await startPeers(nats.url, variant.peers);
        const ours: number[] = [];
        const bare: number[] = [];
        const whole: number[] = [];
        for (let r = -WARMUP; r < FANOUT_RUNS; r++) {
          const tasks = r < 0 ? FANOUT_WARMUP : FANOUT;
          const run = await fanOutRate(nats.url, tasks, variant.kind === 'pinned' ? tasks / agents : tasks, variant.where);
          const baseline = await bareFanOut(nc, tasks, variant.subjectOf);
          if (r < 0) continue;
          ours.push(run.rate);
          whole.push(run.wholeMs);
          bare.push(baseline);
        }
        const figures = { ours: median(ours), bare: median(bare) };
        const wholeS = median(whole) / 1000;
        rows.push({
          name: variant.name,
          unit: 'tasks/s',
          ...figures,
          target: variant.target,
          better: 'higher',
          note: `${variant.how}, --max-concurrent ${AGENT_CONCURRENCY}; median of ${FANOUT_RUNS}, first transition to last success (whole run() ${wholeS.toFixed(2)} s); ${variant.bareHow}`,
          json: { [`${variant.key}_tasks_per_s`]: Math.round(figures.ours), [`${variant.key}_baseline_tasks_per_s`]: Math.round(figures.bare), [`${variant.key}_whole_run_s`]: +wholeS.toFixed(2) },
        });
      } catch (error) {
        rows.push(failedRow(variant.name, 'tasks/s', variant.target, 'higher', `${variant.key}_tasks_per_s`, error));
      } finally {
        await Promise.all(peers.map(stop));
      }
    }
  } finally {
    if (!('error' in started)) await Promise.all(started.procs.map(stop));
  }
  return rows;
}

/**
 * Every cluster row (or those of `which`: chain, pinned, queue): its own nats-server and agents,
 * stopped and removed at the end whatever happened. A row that fails is a row of n/a with the
 * reason, not a crash of the bench.
 */
export async function clusterRows(which: Set<string> = new Set(['chain', 'pinned', 'queue', 'kv'])): Promise<ClusterRow[]> {
  const unguard = guardSignals();
  try {
    return await clusterRowsGuarded(which);
  } finally {
    unguard();
  }
}

async function clusterRowsGuarded(which: Set<string>): Promise<ClusterRow[]> {
  const nats = await startNats();
  let nc: NatsConnection | undefined;
  const rows: ClusterRow[] = [];
  try {
    nc = await connect({ servers: nats.url, name: 'bench-baseline' });
    if (which.has('chain')) {
      let agents: Proc[] = [];
      try {
        agents = await startAgents(nats.url, 1, AGENT_CONCURRENCY);
        rows.push(...(await chainRows(nats, nc)));
      } catch (error) {
        rows.push(
          failedRow('cluster: chain of 1,000 remote no-op steps (p50)', 'µs/step', '≤ 500', 'lower', 'cluster_chain_p50_us_per_step', error),
          failedRow('cluster: chain of 1,000 remote no-op steps (p99)', 'µs/step', '—', 'lower', 'cluster_chain_p99_us_per_step', error),
        );
      } finally {
        await Promise.all(agents.map(stop));
      }
    }
    for (const agents of [2, 4]) rows.push(...(await fanOutRows(nats, nc, agents, which)));
    if (which.has('kv')) {
      try {
        rows.push(await kvChainRow(nats));
      } catch (error) {
        rows.push(failedRow('NATS KV store: chain of 1,000 no-op steps', 'µs/step', '—', 'lower', 'kv_chain_us_per_step', error));
      }
    }
  } finally {
    await nc?.close().catch(() => undefined);
    await stopNats(nats);
  }
  return rows;
}

/**
 * Eventor's side only, `runs` times, for a profiler: `profile chain`, `profile pinned AGENTS`
 * or `profile queue AGENTS`. Prints each run's figure; no baseline runs in this process.
 */
async function profile(kind: string, agents: number, runs: number): Promise<void> {
  const nats = await startNats();
  let procs: Proc[] = [];
  try {
    procs = await startAgents(nats.url, kind === 'chain' ? 1 : agents, AGENT_CONCURRENCY);
    const hosts = Array.from({ length: agents }, (_, i) => `n${i + 1}`);
    for (let r = 0; r < runs; r++) {
      if (kind === 'chain') {
        const latencies = await chainLatencies(nats.url, CHAIN);
        console.log(JSON.stringify({ kind, p50_us: Math.round(percentile(latencies, 50)), p99_us: Math.round(percentile(latencies, 99)) }));
      } else {
        const { rate, wholeMs } = await fanOutRate(nats.url, FANOUT, kind === 'pinned' ? FANOUT / agents : FANOUT, kind === 'pinned' ? { hosts } : { queue: 'work' });
        console.log(JSON.stringify({ kind, agents, tasks_per_s: Math.round(rate), whole_ms: Math.round(wholeMs) }));
      }
    }
  } finally {
    await Promise.all(procs.map(stop));
    await stopNats(nats);
  }
}

// Alone: the rows asked for, as JSON lines; or `profile ...`, Eventor's side only.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const asked = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  if (asked[0] === 'profile') await profile(asked[1] ?? 'pinned', Number(asked[2] ?? 2), Number(asked[3] ?? 3));
  else for (const row of await clusterRows(asked.length ? new Set(asked) : undefined)) console.log(JSON.stringify(row));
}
