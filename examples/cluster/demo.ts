// `npm run demo:cluster`: a whole cluster on this machine. It starts its own nats-server with
// JetStream on a free loopback port, two agents (node1 and node2, both serving the queue
// `nightly`), runs the flow of ./flow.ts against them, prints where each task ran, and stops
// everything it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TransitionRecord } from 'eventor';
import build from './flow.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const started: ChildProcess[] = [];
const folder = mkdtempSync(join(tmpdir(), 'eventor-cluster-demo-'));

function nats(): string {
  for (const dir of (process.env.PATH ?? '').split(':').concat('/usr/sbin', '/usr/local/bin')) {
    if (existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  throw new Error('nats-server is not installed: apt-get install -y nats-server (Debian), or see https://docs.nats.io');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Starts a program and resolves once its output matches `ready`. */
function start(command: string, args: string[], ready: RegExp, name: string): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 20 s:\n${output}`)), 20_000);
    const look = (chunk: Buffer) => {
      output += chunk;
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout?.on('data', look);
    child.stderr?.on('data', look);
    child.on('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready:\n${output}`)));
  });
}

async function stopAll(): Promise<void> {
  // Agents first, so that they drain while NATS is still there.
  for (const child of [...started].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  rmSync(folder, { recursive: true, force: true });
}

try {
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  await start(nats(), ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', join(folder, 'jetstream')], /Server is ready/, 'nats-server');
  console.log(`nats-server with JetStream on ${url}`);
  for (const host of ['node1', 'node2']) {
    await start(process.execPath, [cli, 'agent', '--nats', url, '--host', host, '--root', here, '--queue', 'nightly'], /ready/, `agent ${host}`);
    console.log(`agent ${host} is up (root ${here}, queue nightly)`);
  }
  process.env.EVENTOR_NATS_URL = url;
  const ev = build();
  const finished: TransitionRecord[] = [];
  ev.subscribe((transition) => {
    if (transition.status === 'success' || transition.status === 'failure') finished.push(transition);
  });
  const ok = await ev.run();
  await ev.close();
  console.log('\nwhere each task ran:');
  for (const { step, sequence, host, status } of finished.sort((a, b) => a.sequence.localeCompare(b.sequence) || a.at - b.at)) {
    console.log(`  night ${sequence}  ${step.padEnd(14)} ${host.padEnd(6)} ${status}`);
  }
  console.log(`\nthe flow ${ok ? 'succeeded' : 'failed'}`);
  process.exitCode = ok ? 0 : 1;
} catch (error) {
  console.error(`demo:cluster: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await stopAll();
}
