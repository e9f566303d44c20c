// The SSH launcher against a real sshd (test/ssh-harness.ts) and a real nats-server with a password:
// agents started over SSH say hello and run tasks, stop() leaves no agent process, each fault is a
// named SshError that names the host, and the NATS password never shows in a log line, an error
// message or a remote process's arguments. Build first (npm run -s build): the agents run dist/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import test, { type TestContext } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { Eventor } from '../src/index.js';
import type { Logger } from '../src/model/logger.js';
import { decodeMessage } from '../src/transport/protocol.js';
import { knownHostMatches, knownHostName, launchAgents, parseKnownHosts, SshAgentError, SshAuthError, SshError, SshHostKeyError, SshUnreachableError, type LaunchedAgents, type SshSettings } from '../src/transport/ssh.js';
import { until } from './cluster-helpers.js';
import { freePort, NatsServer, spawnProcess } from './nats-harness.js';
import { SSH_HOSTS, startSshd, type SshServer } from './ssh-harness.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const LEAKY = fileURLToPath(new URL('./fixtures/ssh/leaky-agent.sh', import.meta.url));
/** The agent command on the "remote" hosts: this Node and the built CLI, whatever PATH sshd gives. */
const AGENT = `${process.execPath} ${CLI} agent`;
const NATS_USER = 'eventor';
const LIMIT = { timeout: 120_000 } as const;

/** A logger that keeps every line, with its level and name, of itself and of every child. */
function collectingLogger(lines: string[], name = 'Run-ssh'): Logger {
  const make = (loggerName: string): Logger => ({
    name: loggerName,
    enabled: () => true,
    debug: (message) => lines.push(`${loggerName} DEBUG ${message}`),
    info: (message) => lines.push(`${loggerName} INFO ${message}`),
    warn: (message) => lines.push(`${loggerName} WARN ${message}`),
    error: (message) => lines.push(`${loggerName} ERROR ${message}`),
    child: (child) => make(child),
  });
  return make(name);
}

/** The command lines of processes whose arguments hold `marker` (a test's unique root folder). */
function processesWith(marker: string): string[] {
  const result = spawnSync('pgrep', ['-af', marker], { encoding: 'utf8' });
  return result.stdout.split('\n').filter(Boolean);
}

/**
 * A fresh folder whose path marks the test's agents in the process list. When the test ends, a
 * process still marked with it (a test that failed before stop()) is killed: only this test's
 * agents and steps carry the path.
 */
function markerRoot(t: TestContext): string {
  const root = mkdtempSync(join(tmpdir(), 'eventor-ssh-root-'));
  t.after(() => {
    for (const line of processesWith(root)) {
      try {
        process.kill(Number(line.split(' ')[0]), 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    rmSync(root, { recursive: true, force: true });
  });
  return root;
}

interface Setup {
  nats: NatsServer;
  sshd: SshServer;
  pass: string;
  ssh: SshSettings;
  natsSettings: { servers: string; user: string; pass: string };
}

/** A nats-server with a password and an sshd, both stopped when the test ends (the agents are stopped by the tests before). */
async function setUp(t: TestContext): Promise<Setup> {
  assert.ok(existsSync(CLI), `${CLI} is missing: build first (npm run -s build)`);
  const pass = `pw-${randomBytes(12).toString('hex')}`;
  const [nats, sshd] = await Promise.all([NatsServer.start(t, { user: NATS_USER, pass }), startSshd(t)]);
  return {
    nats,
    sshd,
    pass,
    ssh: { configFile: sshd.configFile, knownHosts: sshd.knownHosts, command: AGENT, agent: false },
    natsSettings: { servers: nats.url, user: NATS_USER, pass },
  };
}

/** Stops the launched agents when the test ends, if the test did not (a failed assertion). */
function stopLater(t: TestContext, launched: LaunchedAgents): LaunchedAgents {
  t.after(() => launched.stop());
  return launched;
}

test('agents launched over SSH on node1 and node2 say hello, run a flow, and stop() leaves none running', LIMIT, async (t) => {
  const { nats, sshd, pass, ssh, natsSettings } = await setUp(t);
  const root = markerRoot(t);
  // Hellos, as any supervisor hears them.
  const nc = await connect({ servers: nats.url, user: NATS_USER, pass });
  t.after(() => nc.close());
  const hellos = new Map<string, number>();
  nc.subscribe('eventor.agent.*.beat', {
    callback: (_error, msg) => {
      const beat = decodeMessage(msg.subject, msg.data, ['beat'], () => undefined);
      if (beat?.state === 'hello' && !hellos.has(beat.host)) hellos.set(beat.host, performance.now());
    },
  });
  await nc.flush();

  const lines: string[] = [];
  const started = performance.now();
  const launched = stopLater(t, await launchAgents({ hosts: ['node1', 'node2'], ssh, nats: natsSettings, root, logger: collectingLogger(lines) }));
  await until(() => hellos.has('node1') && hellos.has('node2'), 'hellos of node1 and node2', 30_000, () => lines.join('\n'));
  const seconds = (Math.max(hellos.get('node1')!, hellos.get('node2')!) - started) / 1000;
  t.diagnostic(`launchAgents() start to both agents' hello: ${seconds.toFixed(2)} s`);
  process.stderr.write(`ssh launch: launchAgents() start to both agents' hello: ${seconds.toFixed(2)} s\n`);
  assert.deepEqual(launched.hosts, ['node1', 'node2']);

  // Both run where sshd put them, with the password in their environment only.
  const running = processesWith(root);
  assert.ok(running.filter((line) => line.includes('--host node1')).length >= 1 && running.filter((line) => line.includes('--host node2')).length >= 1, `agents of node1 and node2 run:\n${running.join('\n')}`);
  for (const line of running) assert.ok(!line.includes(pass), `a process's arguments hold the NATS password: ${line}`);
  // Their output reaches the run's log, under each host's name.
  assert.ok(lines.some((line) => line.startsWith('Agent-node1 INFO') && line.includes('agent node1 ready')), lines.join('\n'));
  assert.ok(lines.some((line) => line.startsWith('Agent-node2 INFO') && line.includes('agent node2 ready')), lines.join('\n'));
  assert.ok(lines.some((line) => line.includes(`root@${SSH_HOSTS.node1} port ${sshd.port}`) || line.includes(`${sshd.user}@${SSH_HOSTS.node1} port ${sshd.port}`)), lines.join('\n'));

  // A flow pinned to both hosts runs on the launched agents.
  const ev = new Eventor({ name: 'ssh-flow', store: ':memory:', config: { nats: natsSettings, logging: { console: false } } });
  t.after(() => ev.close());
  const go = ev.addEvent('go');
  const ranOn: string[] = [];
  ev.subscribe((record) => {
    if (record.status === 'success' && record.host) ranOn.push(`${record.step}@${record.host}`);
  });
  ev.addAssoc(go, ev.addStep('hello', { command: ['echo', 'ran over ssh'], hosts: ['node1', 'node2'] }));
  ev.triggerEvent(go, 1);
  assert.equal(await ev.run(), true);
  await ev.close();
  assert.deepEqual(ranOn.sort(), ['hello@node1@node1', 'hello@node2@node2']);

  await launched.stop();
  assert.deepEqual(processesWith(root), [], 'no agent process outlives stop()');
  assert.ok(lines.some((line) => /agent on node1 stopped \(exit code 0\)/.test(line)), lines.join('\n'));
  assert.ok(lines.some((line) => /agent node2: stopped/.test(line)), lines.join('\n'));
  for (const line of lines) assert.ok(!line.includes(pass), `a log line holds the NATS password: ${line}`);
});

test('each fault is a named SshError that names the host, and leaves no agent running', LIMIT, async (t) => {
  const { sshd, pass, ssh, natsSettings } = await setUp(t);
  const root = markerRoot(t);
  const lines: string[] = [];
  const logger = collectingLogger(lines);
  const messages: string[] = [];
  const otherKey = await sshd.newKey('id_other');
  const otherHostKey = await sshd.newKey('other_host_key');
  const otherHostPublic = readFileSync(`${otherHostKey}.pub`, 'utf8').trim();

  /** Launches with `settings` on top of the working ones, and checks the error it must end with. */
  const fails = async (what: string, hosts: string[], settings: Partial<SshSettings>, check: (error: SshError) => void, extra: { root?: string } = {}) => {
    await t.test(what, async () => {
      const startedAt = performance.now();
      await assert.rejects(launchAgents({ hosts, ssh: { ...ssh, ...settings }, nats: natsSettings, root: extra.root ?? root, logger, readyTimeout: 30 }), (error: unknown) => {
        assert.ok(error instanceof SshError, `an SshError, not ${String(error)}`);
        messages.push(error.message);
        t.diagnostic(`${what}: ${error.name} (${error.reason}): ${error.message}`);
        check(error);
        assert.ok(!error.message.includes(pass), `the message holds the NATS password: ${error.message}`);
        return true;
      });
      t.diagnostic(`${what}: ${((performance.now() - startedAt) / 1000).toFixed(2)} s`);
      assert.deepEqual(processesWith(root), [], `no agent is left running after: ${what}`);
    });
  };

  await fails('a changed host key', ['node1'], { knownHosts: sshd.writeFile('known_hosts_changed', `[${SSH_HOSTS.node1}]:${sshd.port} ${otherHostPublic}\n`) }, (error) => {
    assert.ok(error instanceof SshHostKeyError);
    assert.equal(error.reason, 'host-key-changed');
    assert.equal(error.host, 'node1');
    assert.match(error.message, /node1/);
    assert.match(error.message, /CHANGED/);
    assert.match(error.message, /man-in-the-middle/);
  });

  await fails('an unknown host key (empty known_hosts)', ['node2'], { knownHosts: sshd.writeFile('known_hosts_empty', '') }, (error) => {
    assert.ok(error instanceof SshHostKeyError);
    assert.equal(error.reason, 'host-key-unknown');
    assert.match(error.message, /node2/);
    assert.match(error.message, new RegExp(`ssh-keyscan -p ${sshd.port} -t ed25519 ${SSH_HOSTS.node2.replace(/\./g, '\\.')} >> `));
  });

  await fails('a revoked host key', ['node1'], { knownHosts: sshd.writeFile('known_hosts_revoked', `@revoked [${SSH_HOSTS.node1}]:${sshd.port} ${sshd.hostPublicKey}\n[${SSH_HOSTS.node1}]:${sshd.port} ${sshd.hostPublicKey}\n`) }, (error) => {
    assert.ok(error instanceof SshHostKeyError);
    assert.equal(error.reason, 'host-key-revoked');
    assert.match(error.message, /node1/);
  });

  await fails('a key the host does not accept', ['node1'], { hosts: { node1: { key: otherKey } } }, (error) => {
    assert.ok(error instanceof SshAuthError);
    assert.equal(error.reason, 'auth');
    assert.match(error.message, /node1/);
    assert.match(error.message, /refused authentication/);
    assert.ok(error.message.includes(otherKey), 'it names the key file it tried');
    assert.ok(!error.message.includes('PRIVATE KEY') && !error.message.includes(readFileSync(otherKey, 'utf8').split('\n')[1]), 'no key material');
  });

  const nobody = await freePort();
  await fails('a host nobody listens on', ['node3'], { hosts: { node3: { host: '127.0.0.2', port: nobody, user: sshd.user, key: sshd.identity } } }, (error) => {
    assert.ok(error instanceof SshUnreachableError);
    assert.equal(error.reason, 'unreachable');
    assert.match(error.message, /node3/);
    assert.match(error.message, /connection refused/);
  });

  // A port that accepts connections and never speaks SSH: the launcher times out.
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const silentPort = (silent.address() as { port: number }).port;
  await fails('a host that never answers the handshake', ['node4'], { connectTimeout: 1, hosts: { node4: { host: '127.0.0.1', port: silentPort, user: sshd.user, key: sshd.identity } } }, (error) => {
    assert.ok(error instanceof SshUnreachableError);
    assert.match(error.message, /node4/);
    assert.match(error.message, /timed out/);
  });

  await fails('an agent command that is missing', ['node1'], { command: '/nonexistent/eventor agent' }, (error) => {
    assert.ok(error instanceof SshAgentError);
    assert.equal(error.reason, 'command-not-found');
    assert.equal(error.exitCode, 127);
    assert.match(error.message, /node1/);
    assert.match(error.message, /\/nonexistent\/eventor agent/);
    assert.match(error.message, /not found/);
  });

  const missingRoot = join(root, 'no-such-folder');
  await fails(
    'an agent that exits before it is ready',
    ['node2'],
    {},
    (error) => {
      assert.ok(error instanceof SshAgentError);
      assert.equal(error.reason, 'agent-failed');
      assert.match(error.message, /node2/);
      assert.match(error.message, /exited before it was ready \(exit code 2\)/);
      assert.match(error.message, /is not a folder/, 'its last lines of output are in the message');
    },
    { root: missingRoot },
  );

  // One host fails, the other started: the one that started is stopped before the error is thrown.
  await fails('node2 refuses the key while node1 starts', ['node1', 'node2'], { hosts: { node2: { key: otherKey } } }, (error) => {
    assert.ok(error instanceof SshAuthError);
    assert.equal(error.host, 'node2');
  });
  assert.ok(lines.some((line) => /agent on node1 stopped/.test(line)), `node1's agent was stopped:\n${lines.join('\n')}`);

  for (const line of lines) assert.ok(!line.includes(pass), `a log line holds the NATS password: ${line}`);
  assert.equal(messages.length, 9);
});

test('no NATS password in log lines, error messages or arguments, even from an agent that prints it', LIMIT, async (t) => {
  const { pass, ssh, natsSettings } = await setUp(t);
  const root = markerRoot(t);
  const lines: string[] = [];
  await assert.rejects(launchAgents({ hosts: ['node1'], ssh: { ...ssh, command: `/bin/sh ${LEAKY}` }, nats: natsSettings, root, logger: collectingLogger(lines) }), (error: unknown) => {
    assert.ok(error instanceof SshAgentError, String(error));
    assert.equal(error.reason, 'agent-failed');
    assert.match(error.message, /node1/);
    assert.match(error.message, /exit code 3/);
    // The agent printed the password it got from its environment; the launcher showed it as ***.
    assert.match(error.message, /leaky agent got password \*\*\*/);
    assert.ok(!error.message.includes(pass), error.message);
    assert.ok(error.output.every((line) => !line.includes(pass)));
    // Its arguments never held it: only the URL, the host and the root.
    const args = error.output.find((line) => line.startsWith('leaky agent args:'));
    assert.ok(args && args.includes(`--nats ${natsSettings.servers} --host node1 --root ${root}`), args);
    return true;
  });
  assert.ok(lines.some((line) => line.includes('leaky agent got password ***')), lines.join('\n'));
  for (const line of lines) assert.ok(!line.includes(pass), `a log line holds the NATS password: ${line}`);

  // A launch that works, with the credentials in the URL: they are taken out of it, and reach the agent all the same.
  const inUrl = natsSettings.servers.replace('nats://', `nats://${NATS_USER}:${pass}@`);
  const launched = stopLater(t, await launchAgents({ hosts: ['node1'], ssh, nats: { servers: inUrl }, root, logger: collectingLogger(lines) }));
  assert.ok(lines.some((line) => line.includes('agent node1 ready')), lines.join('\n'));
  assert.ok(lines.some((line) => line.includes(`--nats ${natsSettings.servers} --host node1`)), 'the command line shows the URL without its credentials');
  for (const line of processesWith(root)) assert.ok(!line.includes(pass), `a process's arguments hold the NATS password: ${line}`);
  await launched.stop();
  assert.deepEqual(processesWith(root), []);
  for (const line of lines) assert.ok(!line.includes(pass), `a log line holds the NATS password: ${line}`);
});

test('an agent that does not drain within stopTimeout is killed, with the step it runs', LIMIT, async (t) => {
  const { ssh, natsSettings } = await setUp(t);
  const root = markerRoot(t);
  const lines: string[] = [];
  const launched = stopLater(t, await launchAgents({ hosts: ['node1'], ssh: { ...ssh, stopTimeout: 1 }, nats: natsSettings, root, logger: collectingLogger(lines) }));
  const ev = new Eventor({ name: 'ssh-stuck', store: ':memory:', config: { nats: { ...natsSettings, lostAfter: 1 }, closeGrace: 1, logging: { console: false } } });
  t.after(() => ev.close());
  const go = ev.addEvent('go');
  // A step that outlives any drain, marked with the root so that the process list shows it.
  ev.addAssoc(go, ev.addStep('stuck', { command: [process.execPath, '-e', 'setTimeout(() => {}, 300000)', root], hosts: ['node1'] }));
  let active = false;
  ev.subscribe((record) => {
    if (record.step === 'stuck' && record.status === 'active') active = true;
  });
  ev.triggerEvent(go, 1);
  const running = ev.run();
  await until(() => active && processesWith(root).some((line) => line.includes('setTimeout')), 'the stuck step to run on node1', 30_000, () => lines.join('\n'));
  await launched.stop();
  assert.deepEqual(processesWith(root), [], 'neither the agent nor its step outlives stop()');
  assert.ok(lines.some((line) => /did not stop within 1 s: killing/.test(line)), lines.join('\n'));
  // The supervisor sees the agent go: the task fails as lost.
  assert.equal(await running, false);
});

test('agents stop by themselves when the supervisor that launched them dies', LIMIT, async (t) => {
  const { ssh, natsSettings } = await setUp(t);
  const root = markerRoot(t);
  const fixture = fileURLToPath(new URL('./fixtures/ssh/launch.ts', import.meta.url));
  const supervisor = spawnProcess(t, process.execPath, ['--import', 'tsx', fixture], { env: { EVENTOR_TEST_LAUNCH: JSON.stringify({ hosts: ['node1', 'node2'], ssh, nats: natsSettings, root }) } });
  await supervisor.waitFor(/^launched$/m, 60_000);
  assert.equal(processesWith(root).filter((line) => line.includes(' agent ')).length >= 2, true, processesWith(root).join('\n'));
  supervisor.kill('SIGKILL');
  await supervisor.exited;
  // The SSH channels close with the connections; each agent's watcher sees its end and drains it.
  await until(() => processesWith(root).length === 0, 'the agents of the dead supervisor to exit', 30_000, () => processesWith(root).join('\n'));
});

test('authentication: an encrypted key with its passphrase, the SSH agent, and a passphrase that is wrong or missing', LIMIT, async (t) => {
  const { sshd, pass, ssh, natsSettings } = await setUp(t);
  const root = markerRoot(t);
  const lines: string[] = [];
  const logger = collectingLogger(lines);
  const passphrase = `phrase-${randomBytes(8).toString('hex')}`;
  const encrypted = await sshd.newKey('id_encrypted', passphrase);
  sshd.authorize(encrypted);
  // No IdentityFile from an ssh config here: only what each case gives.
  const bare = { ...ssh, configFile: sshd.writeFile('ssh_config_empty', '') };
  const node1 = { host: SSH_HOSTS.node1, port: sshd.port, user: sshd.user };

  const withPassphrase = stopLater(t, await launchAgents({ hosts: ['node1'], ssh: { ...bare, hosts: { node1: { ...node1, key: encrypted, passphrase } } }, nats: natsSettings, root, logger }));
  await withPassphrase.stop();

  for (const [what, settings, pattern] of [
    ['no passphrase', { ...node1, key: encrypted }, /is encrypted: give its passphrase/],
    ['a wrong passphrase', { ...node1, key: encrypted, passphrase: `${passphrase}-wrong` }, /cannot be decrypted with the passphrase given/],
  ] as const) {
    await assert.rejects(launchAgents({ hosts: ['node1'], ssh: { ...bare, hosts: { node1: settings } }, nats: natsSettings, root, logger }), (error: unknown) => {
      assert.ok(error instanceof SshError && error.reason === 'config', `${what}: ${String(error)}`);
      assert.match(error.message, /node1/);
      assert.ok(error.message.includes(encrypted), 'it names the key file');
      assert.match(error.message, pattern);
      assert.ok(!error.message.includes(passphrase), `${what}: the message holds the passphrase`);
      return true;
    });
  }

  // The SSH agent, holding the key that sshd accepts: no key file is given at all.
  const socket = join(sshd.dir, 'agent.sock');
  const agent = spawnProcess(t, 'ssh-agent', ['-D', '-a', socket]);
  await agent.waitFor(/SSH_AUTH_SOCK/);
  const added = spawnSync('ssh-add', [sshd.identity], { env: { ...process.env, SSH_AUTH_SOCK: socket }, encoding: 'utf8' });
  assert.equal(added.status, 0, added.stderr);
  const viaAgent = stopLater(t, await launchAgents({ hosts: ['node1'], ssh: { ...bare, agent: socket, hosts: { node1: node1 } }, nats: natsSettings, root, logger }));
  assert.ok(lines.some((line) => line.includes('agent node1 ready')));
  await viaAgent.stop();
  assert.deepEqual(processesWith(root), []);
  for (const line of lines) assert.ok(!line.includes(pass) && !line.includes(passphrase), `a log line holds a secret: ${line}`);
});

test('known_hosts lookups agree with OpenSSH (ssh-keygen -F): plain, hashed, [host]:port, wildcards and negations', LIMIT, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'eventor-known-hosts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, 'key');
  assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status, 0);
  const publicKey = readFileSync(`${key}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  const patterns = ['alpha.example', '[beta.example]:2222', '*.wild.example,!bad.wild.example', 'h?.example', '10.0.0.*', 'Mixed.Case'];
  const hashedFile = join(dir, 'hashed');
  writeFileSync(hashedFile, ['gamma.example', '[delta.example]:2200'].map((name) => `${name} ${publicKey}`).join('\n') + '\n');
  assert.equal(spawnSync('ssh-keygen', ['-q', '-H', '-f', hashedFile]).status, 0);
  const file = join(dir, 'known_hosts');
  writeFileSync(file, patterns.map((pattern) => `${pattern} ${publicKey}`).join('\n') + '\n' + readFileSync(hashedFile, 'utf8'));
  const entries = parseKnownHosts(readFileSync(file, 'utf8'), file);
  assert.ok(entries.some((entry) => entry.patterns.startsWith('|1|')), 'ssh-keygen -H hashed some lines');
  const names = ['alpha.example', 'ALPHA.example', 'beta.example', '[beta.example]:2222', 'x.wild.example', 'bad.wild.example', 'h1.example', 'h12.example', '10.0.0.7', 'mixed.case', 'gamma.example', '[delta.example]:2200', 'delta.example', 'other.example'];
  for (const name of names) {
    const lookup = knownHostName(name.replace(/^\[(.*)\]:\d+$/, '$1'), Number(/\]:(\d+)$/.exec(name)?.[1] ?? 22));
    const ours = entries.some((entry) => knownHostMatches(entry.patterns, lookup));
    const openssh = spawnSync('ssh-keygen', ['-F', name, '-f', file], { encoding: 'utf8' }).status === 0;
    assert.equal(ours, openssh, `${name}: the launcher says ${ours ? 'known' : 'unknown'}, ssh-keygen -F says ${openssh ? 'known' : 'unknown'}`);
  }
});

test('a flow with config.ssh starts the agents it misses over SSH, runs on them, and stops them when it closes', LIMIT, async (t) => {
  const { pass, ssh, natsSettings } = await setUp(t);
  const root = markerRoot(t);
  const lines: string[] = [];
  const ev = new Eventor({ name: 'ssh-supervised', store: ':memory:', logSink: (line) => lines.push(line), config: { nats: natsSettings, ssh: { ...ssh, root } } });
  t.after(() => ev.close());
  const ranOn: string[] = [];
  ev.subscribe((record) => {
    if (record.status === 'success') ranOn.push(`${record.step} on ${record.host}`);
  });
  ev.addAssoc(ev.addEvent('go'), ev.addStep('hello', { command: ['echo', 'started by the supervisor'], hosts: ['node1', 'node2'] }));
  ev.triggerEvent('go', 1);
  assert.equal(await ev.run(), true, lines.join('\n'));
  assert.deepEqual(ranOn.sort(), ['hello@node1 on node1', 'hello@node2 on node2']);
  assert.ok(lines.some((line) => line.includes('Starting agents over SSH on node1, node2')), lines.join('\n'));
  assert.ok(lines.some((line) => line.includes('][ node1 ][ Task-hello@node1(1) ][ INFO ][ started by the supervisor ]')), lines.join('\n'));
  assert.ok(processesWith(root).length > 0, 'the agents run while the Eventor is open');
  await ev.close();
  assert.deepEqual(processesWith(root), [], 'closing the Eventor stops the agents it started');
  for (const line of lines) assert.ok(!line.includes(pass), `a log line holds the NATS password: ${line}`);
});
