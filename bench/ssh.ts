// The SSH row of `npm run bench`: seconds from launchAgents() until agents on node1 and node2,
// started over a real sshd on 127.0.0.2 and 127.0.0.3, are ready (they said hello), beside a
// bare ssh2 login that starts `node` on both hosts in the same run. It starts its own sshd and
// nats-server through the test harnesses and stops and removes them at the end.
//
// Run alone: node --import tsx bench/ssh.ts
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ssh2 from 'ssh2';
import { launchAgents } from '../dist/transport/ssh.js';
import type { Logger } from '../dist/model/logger.js';
import { NatsServer } from '../test/nats-harness.js';
import { SSH_HOSTS, startSshd, type SshServer } from '../test/ssh-harness.js';
import type { ClusterRow } from './cluster.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const RUNS = 3;

const silent: Logger = { name: 'bench', enabled: () => false, debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

/** A test context for the harnesses, whose clean-ups run when the row is done. */
function context(): { t: TestContext; cleanUp: () => Promise<void> } {
  const hooks: (() => unknown)[] = [];
  const t = { after: (fn: () => unknown) => hooks.push(fn), diagnostic: () => undefined } as unknown as TestContext;
  return {
    t,
    cleanUp: async () => {
      for (const hook of hooks.splice(0)) await hook();
    },
  };
}

/** Logs in to `host` with the harness's key and runs `node` there until it prints; resolves when it did. */
function bareLogin(sshd: SshServer, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client
      .on('ready', () => {
        client.exec(`${process.execPath} -e "process.stdout.write('ready')"`, (error, channel) => {
          if (error) return reject(error);
          channel.on('data', () => undefined);
          channel.on('close', () => {
            client.end();
            resolve();
          });
        });
      })
      .on('error', reject)
      .connect({ host, port: sshd.port, username: sshd.user, privateKey: readFileSync(sshd.identity), hostVerifier: () => true });
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The row: the median of RUNS launches of two agents, beside the median of RUNS bare logins to both hosts. */
export async function sshRow(): Promise<ClusterRow> {
  const { t, cleanUp } = context();
  const root = mkdtempSync(join(tmpdir(), 'eventor-bench-ssh-root-'));
  try {
    const [nats, sshd] = await Promise.all([NatsServer.start(t), startSshd(t)]);
    const ssh = { configFile: sshd.configFile, knownHosts: sshd.knownHosts, command: `${process.execPath} ${CLI} agent`, agent: false as const, root };
    const ours: number[] = [];
    const bare: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const started = performance.now();
      const launched = await launchAgents({ hosts: ['node1', 'node2'], ssh, nats: { servers: nats.url }, logger: silent });
      ours.push((performance.now() - started) / 1000);
      await launched.stop();
      const loggedIn = performance.now();
      await Promise.all([bareLogin(sshd, SSH_HOSTS.node1), bareLogin(sshd, SSH_HOSTS.node2)]);
      bare.push((performance.now() - loggedIn) / 1000);
    }
    const row = { ours: median(ours), bare: median(bare) };
    return {
      name: 'SSH: launch agents on 2 hosts, until both said hello',
      unit: 's',
      ...row,
      target: '—',
      better: 'lower',
      note: `median of ${RUNS}; bare: an ssh2 login to both hosts that starts node and waits for its output`,
      json: { ssh_launch_2_agents_s: Number(row.ours.toFixed(2)), ssh_launch_baseline_s: Number(row.bare.toFixed(2)) },
    };
  } finally {
    await cleanUp();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(JSON.stringify(await sshRow()));
