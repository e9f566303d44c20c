// A real OpenSSH server for the SSH launcher's tests: /usr/sbin/sshd run as the current user on a
// free port, listening on 127.0.0.2 and 127.0.0.3, with a host key and an authorized key made for
// the test, and the client side written beside it: an ssh config naming node1 (127.0.0.2) and
// node2 (127.0.0.3), a known_hosts with the host key (node1's line plain, node2's hashed by
// ssh-keygen -H), and the private key. sshd, every process it started, and the folder are gone
// once the test ends.
import { execFile, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { freePort, spawnProcess, type Child } from './nats-harness.js';

const run = promisify(execFile);
const SSHD = existsSync('/usr/sbin/sshd') ? '/usr/sbin/sshd' : 'sshd';
const READY_MS = 20_000;
const STOP_MS = 5_000;

/** The test hosts: their flow names and the loopback addresses sshd listens on. */
export const SSH_HOSTS = { node1: '127.0.0.2', node2: '127.0.0.3' } as const;

export interface SshServer {
  readonly port: number;
  /** The folder everything lives in, removed when the test ends. */
  readonly dir: string;
  /** The user sshd lets in (the current user). */
  readonly user: string;
  /** An ssh client config naming node1 and node2, with Port, User and IdentityFile. */
  readonly configFile: string;
  /** A known_hosts holding the host key for [127.0.0.2]:PORT (plain) and [127.0.0.3]:PORT (hashed). */
  readonly knownHosts: string;
  /** The private key sshd accepts. */
  readonly identity: string;
  /** The host key's public line (`ssh-ed25519 AAAA... comment`). */
  readonly hostPublicKey: string;
  /** A new key pair in the folder that sshd does not accept (encrypted with `passphrase`, if given); returns the private key's path. */
  newKey(name: string, passphrase?: string): Promise<string>;
  /** Lets the key pair of `privateKey` in, too. */
  authorize(privateKey: string): void;
  /** Writes a file of the folder (a known_hosts for a fault) and returns its path. */
  writeFile(name: string, text: string): string;
  /** What sshd printed, for failure messages. */
  output(): string;
}

async function keygen(path: string, comment: string, passphrase = ''): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', comment, '-f', path]);
}

/** Pids of every process under `pid`, deepest first. */
function descendants(pid: number): number[] {
  const result = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  const children = result.stdout.split('\n').filter(Boolean).map(Number);
  return children.flatMap((child) => [...descendants(child), child]);
}

/** Starts sshd for the test; it and all it started are stopped, and the folder removed, in t.after. */
export async function startSshd(t: TestContext): Promise<SshServer> {
  const dir = mkdtempSync(join(tmpdir(), 'eventor-sshd-'));
  let sshd: Child | undefined;
  // Registered before sshd is spawned, so that it runs before the harness's SIGKILL of sshd itself.
  t.after(async () => {
    if (sshd && sshd.pid > 0) {
      // Connections sshd still serves live in processes of their own, which would outlive it.
      for (const pid of descendants(sshd.pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      sshd.kill('SIGTERM');
      const timer = setTimeout(() => sshd?.kill('SIGKILL'), STOP_MS);
      await sshd.exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  });
  // As root, sshd wants its privilege separation folder, which Debian makes only when its service starts.
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const user = userInfo().username;
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const identity = join(dir, 'id_ed25519');
  await Promise.all([keygen(hostKey, 'eventor-test-host'), keygen(identity, 'eventor-test-user')]);
  const authorized = join(dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${identity}.pub`));
  const hostPublicKey = readFileSync(`${hostKey}.pub`, 'utf8').trim();

  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const config = join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `Port ${port}`,
        `ListenAddress ${SSH_HOSTS.node1}`,
        `ListenAddress ${SSH_HOSTS.node2}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${authorized}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'StrictModes no',
        'UsePAM no',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'PrintMotd no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    sshd = spawnProcess(t, SSHD, ['-D', '-e', '-f', config]);
    try {
      await sshd.waitFor(new RegExp(`Server listening on ${SSH_HOSTS.node1.replace(/\./g, '\\.')} port ${port}`), READY_MS);
      await sshd.waitFor(new RegExp(`Server listening on ${SSH_HOSTS.node2.replace(/\./g, '\\.')} port ${port}`), READY_MS);
      break;
    } catch (error) {
      sshd.kill('SIGKILL');
      await sshd.exited;
      // Another process can take freePort()'s port before sshd binds it.
      if (attempt >= 3 || !/Address already in use/i.test(sshd.output())) throw error;
    }
  }

  const configFile = join(dir, 'ssh_config');
  writeFileSync(
    configFile,
    Object.entries(SSH_HOSTS)
      .map(([name, address]) => [`Host ${name}`, `  HostName ${address}`, `  Port ${port}`, `  User ${user}`, `  IdentityFile ${identity}`, ''].join('\n'))
      .join('\n'),
  );
  // node2's line hashed by ssh-keygen itself, so that the launcher reads OpenSSH's own |1| entries.
  const hashed = join(dir, 'known_hosts_node2');
  writeFileSync(hashed, `[${SSH_HOSTS.node2}]:${port} ${hostPublicKey}\n`);
  await run('ssh-keygen', ['-q', '-H', '-f', hashed]);
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[${SSH_HOSTS.node1}]:${port} ${hostPublicKey}\n${readFileSync(hashed, 'utf8')}`);

  const started = sshd!;
  return {
    port,
    dir,
    user,
    configFile,
    knownHosts,
    identity,
    hostPublicKey,
    async newKey(name: string, passphrase?: string) {
      const path = join(dir, name);
      await keygen(path, `eventor-test-${name}`, passphrase);
      return path;
    },
    authorize(privateKey: string) {
      appendFileSync(authorized, readFileSync(`${privateKey}.pub`));
    },
    writeFile(name: string, text: string) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    output: () => started.output(),
  };
}
