import { createHash, createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import ssh2, { type AnyAuthMethod, type ClientChannel, type ConnectConfig, type ParsedKey, type ServerHostKeyAlgorithm } from 'ssh2';
import SSHConfig from 'ssh-config';
import { isPlainObject } from '../model/data.js';
import { ConfigError, TransportError } from '../model/errors.js';
import { withoutUrlCredentials } from './connection.js';
import type { SshSettings } from '../model/config.js';
import type { Logger } from '../model/logger.js';

const { Client, utils } = ssh2;

export type { SshHostSettings, SshSettings } from '../model/config.js';

/** The NATS an agent connects to; credentials reach the remote agent as environment variables, never as arguments. */
export interface SshNatsSettings {
  servers: string | string[];
  user?: string;
  pass?: string;
  token?: string;
  nkey?: string;
  prefix?: string;
}

export interface LaunchOptions {
  /** The host names of the flow (`hosts: ['node1']`); each gets one agent, `--host NAME`. */
  hosts: string[];
  ssh: SshSettings;
  nats: SshNatsSettings;
  /** The agent's `--root` on the remote hosts (default `.`, the remote user's home). */
  root?: string;
  /** Work queues each host's agent serves (`--queue`), by host name. */
  queues?: Record<string, string[]>;
  /** Where the agents' output and the launcher's own lines go. */
  logger: Logger;
  /** Seconds to wait for each agent to say it is ready (default 30). */
  readyTimeout?: number;
}

/** The agents launchAgents started; stop() drains them and ends their SSH sessions. */
export interface LaunchedAgents {
  readonly hosts: string[];
  /** Asks each agent to drain (SIGTERM) and waits for it to exit; one that outlasts `stopTimeout` is killed with its process group. */
  stop(): Promise<void>;
}

export type SshErrorReason =
  | 'config'
  | 'unreachable'
  | 'auth'
  | 'host-key-unknown'
  | 'host-key-changed'
  | 'host-key-revoked'
  | 'command-not-found'
  | 'agent-failed'
  | 'agent-timeout'
  | 'connection';

/** An agent could not be started over SSH; `host` is the flow's name of the host. Never carries a password, passphrase or key. */
export class SshError extends TransportError {
  constructor(
    readonly host: string,
    readonly reason: SshErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A setting of config.ssh, the ssh config or a key file that cannot be used. */
export class SshConfigError extends SshError {
  constructor(host: string, message: string, options?: { cause?: unknown }) {
    super(host, 'config', message, options);
  }
}

/** Nothing answered on the host's SSH port: refused, timed out, or a name that does not resolve. */
export class SshUnreachableError extends SshError {
  constructor(host: string, message: string, options?: { cause?: unknown }) {
    super(host, 'unreachable', message, options);
  }
}

/** The host refused every key (and the SSH agent's). */
export class SshAuthError extends SshError {
  constructor(host: string, message: string, options?: { cause?: unknown }) {
    super(host, 'auth', message, options);
  }
}

/** The host's key is not in known_hosts, differs from the one there, or is revoked there. */
export class SshHostKeyError extends SshError {
  constructor(
    host: string,
    reason: 'host-key-unknown' | 'host-key-changed' | 'host-key-revoked',
    message: string,
    /** The SHA256 fingerprint of the key the host presented. */
    readonly fingerprint: string,
  ) {
    super(host, reason, message);
  }
}

/** The agent command was not found, exited before it was ready, or never said it was. */
export class SshAgentError extends SshError {
  constructor(
    host: string,
    reason: 'command-not-found' | 'agent-failed' | 'agent-timeout',
    message: string,
    /** Its last lines of output, secrets taken out. */
    readonly output: string[],
    readonly exitCode?: number,
  ) {
    super(host, reason, message);
  }
}

const DEFAULT_COMMAND = 'npx eventor agent';
const HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
const LAST_LINES = 20;
const KILL_WAIT_MS = 5_000;

/**
 * Checks config.ssh's shape, so that a mistake is a ConfigError naming the setting before anything
 * connects. Returns the settings as given.
 */
export function checkSshSettings(value: unknown): SshSettings {
  if (!isPlainObject(value)) throw new ConfigError('ssh', value, "an object of SSH settings, such as { hosts: { node1: { host: '10.0.0.5', user: 'eventor' } } }");
  const settings = value as Record<string, unknown>;
  const text = (key: string, v: unknown) => {
    if (v !== undefined && !(typeof v === 'string' && v.length > 0)) throw new ConfigError(key, key.endsWith('passphrase') ? '(hidden)' : v, 'a non-empty string');
  };
  const port = (key: string, v: unknown) => {
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535)) throw new ConfigError(key, v, 'a TCP port, 1 to 65535');
  };
  const seconds = (key: string, v: unknown) => {
    if (v !== undefined && !(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new ConfigError(key, v, 'a number of seconds above 0');
  };
  for (const key of ['user', 'key', 'passphrase', 'configFile', 'knownHosts', 'command', 'root'] as const) text(`ssh.${key}`, settings[key]);
  port('ssh.port', settings.port);
  seconds('ssh.connectTimeout', settings.connectTimeout);
  seconds('ssh.stopTimeout', settings.stopTimeout);
  if (settings.agent !== undefined && settings.agent !== false) text('ssh.agent', settings.agent);
  const servers = settings.natsServers;
  if (servers !== undefined && !(typeof servers === 'string' ? servers.length > 0 : Array.isArray(servers) && servers.length > 0 && servers.every((s) => typeof s === 'string' && s.length > 0))) {
    throw new ConfigError('ssh.natsServers', servers, "a NATS URL as the remote hosts reach it, such as 'nats://10.0.0.1:4222', or a list of them");
  }
  if (settings.hosts !== undefined) {
    if (!isPlainObject(settings.hosts)) throw new ConfigError('ssh.hosts', settings.hosts, "an object of hosts by name, such as { node1: { host: '10.0.0.5' } }");
    for (const [name, host] of Object.entries(settings.hosts as Record<string, unknown>)) {
      if (!isPlainObject(host)) throw new ConfigError(`ssh.hosts.${name}`, host, "an object such as { host: '10.0.0.5', port: 22, user: 'eventor', key: '~/.ssh/id_ed25519' }");
      const h = host as Record<string, unknown>;
      for (const key of ['host', 'user', 'key', 'passphrase', 'root'] as const) text(`ssh.hosts.${name}.${key}`, h[key]);
      port(`ssh.hosts.${name}.port`, h.port);
      if (h.queues !== undefined && !(Array.isArray(h.queues) && h.queues.every((q) => typeof q === 'string' && q.length > 0))) throw new ConfigError(`ssh.hosts.${name}.queues`, h.queues, 'a list of queue names');
    }
  }
  return value as SshSettings;
}

// ---------------------------------------------------------------------------------------------
// Where a host is: config.ssh, then ~/.ssh/config, then the defaults.

/** Everything needed to reach one host, resolved. */
interface Target {
  /** The flow's name of the host (`--host`). */
  name: string;
  address: string;
  port: number;
  user: string;
  /** Private key files to try, in order; `explicit` ones must be readable. */
  keys: { path: string; explicit: boolean; passphrase?: string }[];
  agent?: string;
  /** known_hosts files, in order; the first is where the error tells to add a key. */
  knownHosts: string[];
  /** The name host keys are looked up under (HostKeyAlias, else the address). */
  keyName: string;
  connectTimeoutMs: number;
  root: string;
  queues: string[];
}

/** `~`, `%d`, `%u`, `%h`, `%r`, `%%` in a path of the ssh config or of config.ssh. */
function expandPath(path: string, context: { host?: string; user?: string } = {}): string {
  const home = homedir();
  let expanded = path.replace(/^~(?=$|\/)/, home);
  expanded = expanded.replace(/%([%duhr])/g, (_, c: string) => ({ '%': '%', d: home, u: userInfo().username, h: context.host ?? '', r: context.user ?? '' })[c] ?? '');
  return isAbsolute(expanded) ? expanded : resolve(expanded);
}

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);
const list = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

function readSshConfig(settings: SshSettings, host: string): SSHConfig {
  const path = settings.configFile !== undefined ? expandPath(settings.configFile) : join(homedir(), '.ssh', 'config');
  if (!existsSync(path)) {
    if (settings.configFile !== undefined) throw new SshConfigError(host, `ssh config file ${path} (config.ssh.configFile) does not exist: fix the path, or leave configFile out to read ~/.ssh/config`);
    return SSHConfig.parse('');
  }
  try {
    return SSHConfig.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new SshConfigError(host, `ssh config file ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): fix it, or give config.ssh.configFile another file`, { cause: error });
  }
}

function resolveTarget(name: string, settings: SshSettings, options: LaunchOptions, parsed: SSHConfig): Target {
  const own = settings.hosts?.[name] ?? {};
  // Match exec would run commands of the config file on the supervisor: never.
  const computed = parsed.compute(name, { ignoreCase: true, matchExec: false }) as Record<string, string | string[] | undefined>;
  for (const unsupported of ['proxyjump', 'proxycommand']) {
    const value = first(computed[unsupported]);
    if (value !== undefined && value.toLowerCase() !== 'none') {
      throw new SshConfigError(name, `the ssh config for ${name} uses ${unsupported === 'proxyjump' ? 'ProxyJump' : 'ProxyCommand'}, which Eventor's SSH launcher does not follow: reach ${name} directly (config.ssh.hosts.${name}.host), or start its agent yourself`);
    }
  }
  const address = own.host ?? first(computed.hostname)?.replace(/%h/g, name) ?? name;
  const portText = own.port ?? settings.port ?? first(computed.port) ?? 22;
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new SshConfigError(name, `SSH port of ${name} is ${String(portText)}: give a TCP port, 1 to 65535`);
  const user = own.user ?? settings.user ?? first(computed.user) ?? userInfo().username;
  const context = { host: address, user };
  const explicitKey = own.key ?? settings.key;
  const passphrase = own.passphrase ?? settings.passphrase;
  let keys: Target['keys'];
  if (explicitKey !== undefined) keys = [{ path: expandPath(explicitKey, context), explicit: true, passphrase }];
  else {
    const configured = list(computed.identityfile).map((path) => expandPath(path, context));
    const paths = configured.length > 0 ? configured : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((file) => join(homedir(), '.ssh', file));
    keys = [...new Set(paths)].map((path) => ({ path, explicit: false, passphrase }));
  }
  let agent: string | undefined;
  if (settings.agent !== false) {
    const identityAgent = first(computed.identityagent);
    if (settings.agent !== undefined) agent = settings.agent;
    else if (identityAgent !== undefined && identityAgent.toLowerCase() !== 'none' && identityAgent !== 'SSH_AUTH_SOCK') agent = expandPath(identityAgent.replace(/^\$\{?SSH_AUTH_SOCK\}?$/, process.env.SSH_AUTH_SOCK ?? ''), context);
    else if (identityAgent?.toLowerCase() !== 'none') agent = process.env.SSH_AUTH_SOCK || undefined;
  }
  const knownHosts =
    settings.knownHosts !== undefined
      ? [expandPath(settings.knownHosts)]
      : computed.userknownhostsfile !== undefined
        ? list(computed.userknownhostsfile).flatMap((value) => value.split(/\s+/)).filter(Boolean).map((path) => expandPath(path, context))
        : [join(homedir(), '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];
  const timeoutText = settings.connectTimeout ?? first(computed.connecttimeout) ?? 10;
  const timeout = Number(timeoutText);
  return {
    name,
    address,
    port,
    user,
    keys,
    agent,
    knownHosts,
    keyName: first(computed.hostkeyalias) ?? address,
    connectTimeoutMs: (Number.isFinite(timeout) && timeout > 0 ? timeout : 10) * 1000,
    root: own.root ?? options.root ?? settings.root ?? '.',
    queues: [...new Set([...(options.queues?.[name] ?? []), ...(own.queues ?? [])])],
  };
}

const describeTarget = (target: Target) => `${target.user}@${target.address} port ${target.port}`;

// ---------------------------------------------------------------------------------------------
// known_hosts: plain and hashed (|1|salt|hash) names, [host]:port, wildcards and negations, @revoked.

interface KnownHost {
  marker?: 'revoked' | 'cert-authority';
  patterns: string;
  type: string;
  key: Buffer;
  file: string;
  line: number;
}

export function parseKnownHosts(text: string, file: string): KnownHost[] {
  const entries: KnownHost[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHost['marker'];
    if (fields[0].startsWith('@')) {
      const word = fields.shift()!.slice(1);
      if (word !== 'revoked' && word !== 'cert-authority') return;
      marker = word;
    }
    const [patterns, type, base64] = fields;
    if (!patterns || !type || !base64) return;
    const key = Buffer.from(base64, 'base64');
    if (key.length === 0) return;
    entries.push({ marker, patterns, type, key, file, line: index + 1 });
  });
  return entries;
}

/** The names a host is looked up under in known_hosts: `host`, or `[host]:port` off port 22. */
export function knownHostName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return regex.test(name);
}

/** Whether a known_hosts line's host patterns take in `name`. */
export function knownHostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const pattern of patterns.split(',')) {
    if (pattern.startsWith('!')) {
      if (globMatch(pattern.slice(1), name)) return false;
    } else if (globMatch(pattern, name)) matched = true;
  }
  return matched;
}

/** The key type a public key blob names (its first SSH string). */
function blobType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const length = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + length).toString('latin1');
}

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function readKnownHosts(target: Target): KnownHost[] {
  const entries: KnownHost[] = [];
  for (const file of target.knownHosts) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    entries.push(...parseKnownHosts(text, file));
  }
  return entries;
}

/** What the host key check decided: nothing (the key is known) or the error to raise. */
function checkHostKey(target: Target, known: KnownHost[], blob: Buffer): SshHostKeyError | undefined {
  const name = knownHostName(target.keyName, target.port);
  const type = blobType(blob);
  const fingerprint = fingerprintOf(blob);
  const entries = known.filter((entry) => entry.marker !== 'cert-authority' && knownHostMatches(entry.patterns, name));
  const where = `${target.name} (${target.address} port ${target.port})`;
  const keyscan = `ssh-keyscan ${target.port === 22 ? '' : `-p ${target.port} `}-t ${type.replace(/^ssh-/, '')} ${target.address} >> ${target.knownHosts[0]}`;
  const revoked = entries.find((entry) => entry.marker === 'revoked' && entry.key.equals(blob));
  if (revoked) {
    return new SshHostKeyError(target.name, 'host-key-revoked', `SSH host key of ${where} is revoked (${type} ${fingerprint}, @revoked in ${revoked.file} line ${revoked.line}): not connecting; find out why the host still presents it`, fingerprint);
  }
  const plain = entries.filter((entry) => entry.marker === undefined);
  if (plain.some((entry) => entry.key.equals(blob))) return undefined;
  const sameType = plain.filter((entry) => blobType(entry.key) === type);
  if (sameType.length > 0) {
    const lines = sameType.map((entry) => `${entry.file} line ${entry.line}`).join(', ');
    return new SshHostKeyError(
      target.name,
      'host-key-changed',
      `SSH host key of ${where} has CHANGED: it presents ${type} ${fingerprint}, and known_hosts (${lines}) holds another key for ${name}. Someone may be intercepting the connection (man-in-the-middle), or the host was reinstalled: not connecting. If you know the new key is right, remove the old one (ssh-keygen -R '${name}' -f ${sameType[0].file}) and add the new one (${keyscan}), after checking its fingerprint on the host`,
      fingerprint,
    );
  }
  const others = plain.length > 0 ? `; known_hosts has keys of other types for it (${[...new Set(plain.map((entry) => blobType(entry.key)))].join(', ')})` : '';
  return new SshHostKeyError(
    target.name,
    'host-key-unknown',
    `SSH host key of ${where} is unknown: ${name} has no ${type} key in ${target.knownHosts.join(' or ')}${others}; it presents ${type} ${fingerprint}. If that is its key (check with ssh-keygen -lf on the host), add it: ${keyscan}`,
    fingerprint,
  );
}

/** Host key algorithms with the types known_hosts holds for the host first, so that a host with several keys presents a known one. */
function hostKeyOrder(target: Target, known: KnownHost[]): ServerHostKeyAlgorithm[] {
  const name = knownHostName(target.keyName, target.port);
  const types = known.filter((entry) => entry.marker === undefined && knownHostMatches(entry.patterns, name)).map((entry) => blobType(entry.key));
  const preferred = HOST_KEY_ALGORITHMS.filter((algorithm) => types.includes(algorithm.startsWith('rsa-sha2') ? 'ssh-rsa' : algorithm));
  return [...preferred, ...HOST_KEY_ALGORITHMS.filter((algorithm) => !preferred.includes(algorithm))];
}

// ---------------------------------------------------------------------------------------------
// Authentication: the keys (explicit ones must be readable), then the SSH agent.

function authMethods(target: Target): { methods: AnyAuthMethod[]; tried: string[]; skipped: string[] } {
  const methods: AnyAuthMethod[] = [];
  const tried: string[] = [];
  const skipped: string[] = [];
  for (const key of target.keys) {
    let data: Buffer;
    try {
      data = readFileSync(key.path);
    } catch (error) {
      if (key.explicit) throw new SshConfigError(target.name, `SSH key file ${key.path} for ${target.name} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}): fix config.ssh key, or leave it out to use IdentityFile or the SSH agent`, { cause: error });
      continue;
    }
    const parsed = utils.parseKey(data, key.passphrase);
    const problem = parsedKeyProblem(parsed, key.passphrase !== undefined);
    if (problem) {
      if (key.explicit) throw new SshConfigError(target.name, `SSH key file ${key.path} for ${target.name} ${problem}`);
      skipped.push(`${key.path} (${problem.replace(/:.*$/, '')})`);
      continue;
    }
    const keyObject = (Array.isArray(parsed) ? parsed[0] : parsed) as ParsedKey;
    methods.push({ type: 'publickey', username: target.user, key: keyObject });
    tried.push(`key ${key.path} (${keyObject.type})`);
  }
  if (target.agent) {
    methods.push({ type: 'agent', username: target.user, agent: target.agent });
    tried.push(`the SSH agent at ${target.agent}`);
  }
  return { methods, tried, skipped };
}

/** Why a parsed key cannot be used, in words that never quote the key. */
function parsedKeyProblem(parsed: ParsedKey | ParsedKey[] | Error, hadPassphrase: boolean): string | undefined {
  if (parsed instanceof Error) {
    if (/encrypted/i.test(parsed.message) && /no passphrase/i.test(parsed.message)) return 'is encrypted: give its passphrase as config.ssh passphrase, or load it into the SSH agent';
    if (hadPassphrase && /(bad passphrase|decrypt|passphrase)/i.test(parsed.message)) return 'cannot be decrypted with the passphrase given: check config.ssh passphrase';
    return 'is not a private key this client reads (OpenSSH or PEM, Ed25519, ECDSA or RSA)';
  }
  const key = (Array.isArray(parsed) ? parsed[0] : parsed) as ParsedKey | undefined;
  if (!key || !key.isPrivateKey()) return 'holds no private key (is it the .pub file?)';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The remote command.

/** A word for a POSIX shell, single-quoted. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The line the remote shell runs. Secrets are read from the channel's first lines into the
 * environment (never in an argument, nor in the command line a process list shows); the agent runs
 * in the background with its output on the channel, and a watcher reads the rest of the channel:
 * `stop` (or the channel's end, when the supervisor is gone) sends the agent one SIGTERM, which
 * drains it (one only: a second one makes `eventor agent` exit at once); `kill` kills every process
 * under the agent (with the process groups of its steps) and every process of the SSH session. Once
 * the agent exited, whatever is left in the session is ended, and the session exits with the
 * agent's code (127 when the command is missing). pkill (procps) where the host has it, else the
 * shell's own process group.
 */
function remoteLine(command: string, args: string[], secretNames: string[]): string {
  const script = [
    ...secretNames.map((name) => `IFS= read -r ${name}; export ${name}`),
    'exec 3<&0',
    `${command} ${args.map(shellQuote).join(' ')} </dev/null 3<&- &`,
    'a=$!',
    // Every process under the agent: steps run in process groups (and sessions) of their own.
    'd() { for p in $(pgrep -P "$1" 2>/dev/null); do echo "$p"; d "$p"; done; }',
    '( t=; while IFS= read -r c; do if [ "$c" = kill ]; then for p in $(d $a); do kill -KILL -"$p" "$p" 2>/dev/null; done; pkill -KILL -s 0 || kill -KILL 0; fi; if [ "$c" = stop ] && [ -z "$t" ]; then t=1; kill -TERM $a; fi; done; [ -n "$t" ] || kill -TERM $a ) <&3 >/dev/null 2>&1 &',
    'w=$!',
    'exec 3<&-',
    'wait $a',
    's=$?',
    "trap '' TERM",
    'pkill -TERM -s 0 >/dev/null 2>&1 || kill -TERM 0 2>/dev/null',
    // The session ends when the watcher has: stop() resolves with nothing of the agent's left.
    'wait $w 2>/dev/null',
    'exit $s',
  ].join('\n');
  return `exec /bin/sh -c ${shellQuote(script)}`;
}

// ---------------------------------------------------------------------------------------------
// One agent over one SSH connection.

type Scrub = (text: string) => string;

class RemoteAgent {
  private readonly client = new Client();
  private channel: ClientChannel | undefined;
  private readonly lines: string[] = [];
  private readyFound = false;
  /** The connection failed before the agent started; its later errors are not news. */
  private failed = false;
  private stopping: Promise<void> | undefined;
  private exit: { code?: number; signal?: string } | undefined;
  private readonly closed: Promise<void>;
  private markClosed!: () => void;
  private readonly log: Logger;

  constructor(
    readonly target: Target,
    logger: Logger,
    private readonly scrub: Scrub,
    private readonly stopTimeoutMs: number,
  ) {
    this.log = logger.child(`Agent-${target.name}`, { host: target.name });
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
  }

  /** Connects (host key checked), logs in, starts the agent and resolves once it said it is ready. */
  async start(line: string, secrets: string[], command: string, readyTimeoutMs: number): Promise<void> {
    const { target } = this;
    const known = readKnownHosts(target);
    const { methods, tried, skipped } = authMethods(target);
    if (methods.length === 0) {
      throw new SshAuthError(target.name, `no way to log in to ${target.name} (${describeTarget(target)}): no usable private key (${skipped.length ? `skipped ${skipped.join(', ')}` : `none of ${target.keys.map((key) => key.path).join(', ')} exists`}) and no SSH agent (SSH_AUTH_SOCK); give config.ssh key, an IdentityFile in the ssh config, or start ssh-agent`);
    }
    let hostKeyProblem: SshHostKeyError | undefined;
    const config: ConnectConfig = {
      host: target.address,
      port: target.port,
      username: target.user,
      readyTimeout: target.connectTimeoutMs,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      algorithms: { serverHostKey: hostKeyOrder(target, known) },
      hostVerifier: (blob: Buffer) => {
        hostKeyProblem = checkHostKey(target, known, blob);
        return hostKeyProblem === undefined;
      },
      authHandler: methods,
    };
    // One listener for the connection's whole life: ssh2 may emit more than one error (a timeout,
    // then the lost connection), and an error with no listener would crash the supervisor.
    let connecting: ((error: Error & { code?: string; level?: string }) => void) | undefined;
    this.client.on('error', (error: Error & { code?: string; level?: string }) => {
      if (connecting) connecting(error);
      else if (!this.stopping && !this.failed) this.log.warn(this.scrub(`SSH connection to ${target.name} failed: ${error.message}`));
    });
    this.client.on('close', () => this.markClosed());
    await new Promise<void>((resolvePromise, reject) => {
      connecting = (error) => {
        connecting = undefined;
        this.failed = true;
        this.client.removeListener('ready', onReady);
        this.client.destroy();
        reject(hostKeyProblem ?? this.connectError(error, tried, skipped));
      };
      const onReady = () => {
        connecting = undefined;
        resolvePromise();
      };
      this.client.once('ready', onReady);
      this.client.connect(config);
    });
    const channel = await new Promise<ClientChannel>((resolvePromise, reject) => {
      this.client.exec(line, (error, stream) => (error ? reject(new SshError(target.name, 'connection', `${target.name} (${describeTarget(target)}) refused to run a command: ${this.scrub(error.message)}`, { cause: error })) : resolvePromise(stream)));
    }).catch((error: unknown) => {
      this.client.end();
      throw error;
    });
    this.channel = channel;
    // A write to a channel the far end closed is an error event: never one without a listener.
    const onChannelError = (error: Error) => {
      if (!this.stopping) this.log.warn(this.scrub(`SSH channel of the agent on ${target.name}: ${error.message}`));
    };
    channel.on('error', onChannelError);
    channel.stderr.on('error', onChannelError);
    for (const secret of secrets) channel.write(`${secret}\n`);
    const ready = new Promise<void>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.forceEnd();
        reject(new SshAgentError(target.name, 'agent-timeout', `agent on ${target.name} (${describeTarget(target)}) did not say it was ready within ${readyTimeoutMs / 1000} s; it was stopped. Its last output:\n${this.tail()}`, this.lines.slice(-LAST_LINES)));
      }, readyTimeoutMs);
      this.onReady = () => {
        clearTimeout(timer);
        resolvePromise();
      };
      this.onEarlyExit = () => {
        clearTimeout(timer);
        reject(this.exitError(command));
      };
    });
    const take = (stream: NodeJS.ReadableStream) => {
      const decoder = new StringDecoder('utf8');
      let partial = '';
      stream.on('data', (chunk: Buffer) => {
        partial += decoder.write(chunk);
        const parts = partial.split(/\r?\n/);
        partial = parts.pop() ?? '';
        for (const part of parts) this.line(part);
      });
      stream.on('end', () => {
        partial += decoder.end();
        if (partial) this.line(partial);
        partial = '';
      });
    };
    take(channel);
    take(channel.stderr);
    channel.on('exit', (code: number | null, signal?: string) => {
      this.exit = { code: code ?? undefined, signal: signal ?? undefined };
    });
    channel.on('close', () => {
      if (!this.readyFound) this.onEarlyExit?.();
      else if (!this.stopping) this.log.warn(`agent on ${target.name} exited by itself (${this.exitText()}) while the run went on`);
      this.client.end();
    });
    await ready;
  }

  private onReady: (() => void) | undefined;
  private onEarlyExit: (() => void) | undefined;

  private line(raw: string): void {
    const text = this.scrub(raw);
    this.lines.push(text);
    if (this.lines.length > LAST_LINES) this.lines.shift();
    this.log.info(text);
    if (!this.readyFound && text.includes(`agent ${this.target.name} ready`)) {
      this.readyFound = true;
      this.onReady?.();
    }
  }

  private tail(): string {
    return this.lines.length > 0 ? this.lines.map((line) => `  ${line}`).join('\n') : '  (none)';
  }

  private exitText(): string {
    if (!this.exit) return 'the SSH channel closed without an exit status';
    return this.exit.signal ? `killed by signal ${this.exit.signal}` : `exit code ${this.exit.code}`;
  }

  private exitError(command: string): SshAgentError {
    const { target } = this;
    const code = this.exit?.code;
    const output = this.lines.slice(-LAST_LINES);
    if (code === 127) {
      return new SshAgentError(target.name, 'command-not-found', `agent command on ${target.name} (${describeTarget(target)}) was not found (exit code 127): '${command}'; install Eventor there (npm install eventor in the remote user's home, or globally) or set config.ssh.command. Its output:\n${this.tail()}`, output, code);
    }
    return new SshAgentError(target.name, 'agent-failed', `agent on ${target.name} (${describeTarget(target)}) exited before it was ready (${this.exitText()}); command '${command}'. Its last output:\n${this.tail()}`, output, code);
  }

  private connectError(error: Error & { code?: string; level?: string }, tried: string[], skipped: string[]): SshError {
    const { target } = this;
    const where = `${target.name} (${describeTarget(target)})`;
    const code = error.code;
    if (error.level === 'client-authentication') {
      return new SshAuthError(target.name, `${where} refused authentication as ${target.user}: tried ${tried.join(', ')}${skipped.length ? `; skipped ${skipped.join(', ')}` : ''}. Add the public key to ~${target.user}/.ssh/authorized_keys there, or give config.ssh key or user`, { cause: error });
    }
    if (code === 'ECONNREFUSED') return new SshUnreachableError(target.name, `cannot reach ${where}: connection refused; is sshd running there, on that port?`, { cause: error });
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new SshUnreachableError(target.name, `cannot reach ${where}: host name ${target.address} does not resolve; fix config.ssh.hosts.${target.name}.host or the ssh config's HostName`, { cause: error });
    if (error.level === 'client-timeout' || code === 'ETIMEDOUT') return new SshUnreachableError(target.name, `cannot reach ${where}: no SSH handshake within ${target.connectTimeoutMs / 1000} s (timed out); check the address, the port and any firewall, or raise config.ssh.connectTimeout`, { cause: error });
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EHOSTDOWN') return new SshUnreachableError(target.name, `cannot reach ${where}: ${code === 'EHOSTDOWN' ? 'host is down' : 'no route to it'} (${code})`, { cause: error });
    if (code === 'ECONNRESET' || code === 'EPIPE') return new SshUnreachableError(target.name, `cannot reach ${where}: the connection was closed before the SSH handshake finished (${code}); is it an SSH server, and does it accept this client (MaxStartups, AllowUsers)?`, { cause: error });
    return new SshError(target.name, 'connection', `SSH connection to ${where} failed: ${this.scrub(error.message)}`, { cause: error });
  }

  /** Kills every process of the agent's SSH session; the channel then closes, and the connection with it (dropped if it does not). */
  private forceEnd(): void {
    try {
      this.channel?.write('kill\n');
    } catch {
      // The channel is gone already.
    }
    setTimeout(() => this.client.destroy(), KILL_WAIT_MS).unref();
  }

  /** Drains the agent: one SIGTERM through the watcher; after stopTimeout, the session's process group is killed. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const channel = this.channel;
      const { target } = this;
      if (!channel || channel.destroyed || this.exit) {
        this.client.end();
        return;
      }
      this.log.info(`stopping agent on ${target.name} (SIGTERM: it drains, then exits)`);
      const closedOrAfter = (ms: number) =>
        Promise.race([
          this.closed.then(() => true),
          new Promise<boolean>((resolvePromise) => setTimeout(() => resolvePromise(false), ms).unref()),
        ]);
      try {
        channel.write('stop\n');
      } catch {
        // A channel that cannot be written to has ended: the watcher sees its end and stops the agent all the same.
      }
      if (!(await closedOrAfter(this.stopTimeoutMs))) {
        this.log.warn(`agent on ${target.name} did not stop within ${this.stopTimeoutMs / 1000} s: killing its process group`);
        this.forceEnd();
        if (!(await closedOrAfter(KILL_WAIT_MS))) this.client.destroy();
        return;
      }
      this.log.info(`agent on ${target.name} stopped (${this.exitText()})`);
    })();
    return this.stopping;
  }

  /** Ends a launch that failed halfway: whatever started is stopped. */
  async abandon(): Promise<void> {
    if (this.channel) await this.stop();
    else this.client.end();
  }
}

/**
 * Starts over SSH an agent for each of `hosts` (`<command> --nats URL --host NAME --root ROOT
 * [--queue Q ...]`, NATS credentials in its environment), streams their output to `logger`, and
 * resolves once every agent said it is ready; they say hello over NATS themselves. A host that
 * cannot be reached, refuses the keys, has an unknown or changed host key, or whose agent is
 * missing or fails, is an SshError naming it, and no agent of the launch is left running.
 */
export async function launchAgents(options: LaunchOptions): Promise<LaunchedAgents> {
  const settings = checkSshSettings(options.ssh);
  const hosts = [...new Set(options.hosts)];
  if (hosts.length === 0) return { hosts: [], stop: async () => undefined };
  const { nats } = options;
  // Credentials in a URL (nats://user:pass@host) are taken out of it, and go the secrets' way.
  const fromUrl = withoutUrlCredentials(settings.natsServers ?? nats.servers);
  const url = fromUrl.servers.join(',');
  const user = nats.user ?? fromUrl.user;
  const pass = nats.pass ?? fromUrl.pass;
  const env: [string, string][] = [];
  if (user) env.push(['EVENTOR_NATS_USER', user]);
  if (pass) env.push(['EVENTOR_NATS_PASS', pass]);
  if (nats.token) env.push(['EVENTOR_NATS_TOKEN', nats.token]);
  if (nats.nkey) env.push(['EVENTOR_NATS_NKEY', nats.nkey]);
  const secretsToHide = [pass, nats.pass, fromUrl.pass, ...fromUrl.raw, nats.token, nats.nkey, settings.passphrase, ...Object.values(settings.hosts ?? {}).map((host) => host.passphrase)].filter((secret): secret is string => typeof secret === 'string' && secret.length > 0);
  const scrub: Scrub = (text) => secretsToHide.reduce((shown, secret) => shown.split(secret).join('***'), text);
  for (const [name, value] of env) {
    if (/[\r\n]/.test(value)) throw new SshConfigError(hosts[0], `${name.replace('EVENTOR_NATS_', 'NATS ').toLowerCase()} has a line break, which cannot be passed to a remote agent`);
  }
  const command = settings.command ?? DEFAULT_COMMAND;
  const readyTimeoutMs = (options.readyTimeout ?? 30) * 1000;
  const stopTimeoutMs = (settings.stopTimeout ?? 30) * 1000;
  const parsedConfig = readSshConfig(settings, hosts[0]);
  const targets = hosts.map((name) => resolveTarget(name, settings, options, parsedConfig));
  const agents = targets.map((target) => new RemoteAgent(target, options.logger, scrub, stopTimeoutMs));
  const results = await Promise.allSettled(
    agents.map((agent) => {
      const { target } = agent;
      const args = ['--nats', url, '--host', target.name, '--root', target.root, ...target.queues.flatMap((queue) => ['--queue', queue]), ...(nats.prefix ? ['--prefix', nats.prefix] : [])];
      options.logger.info(`Starting agent ${target.name} over SSH (${describeTarget(target)}): ${command} ${args.map(shellQuote).join(' ')}`);
      return agent.start(remoteLine(command, args, env.map(([name]) => name)), env.map(([, value]) => value), command, readyTimeoutMs);
    }),
  );
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  if (failures.length > 0) {
    await Promise.all(agents.map((agent) => agent.abandon().catch(() => undefined)));
    for (const failure of failures.slice(1)) options.logger.error(scrub(failure instanceof Error ? `${failure.name}: ${failure.message}` : String(failure)));
    const error = failures[0];
    if (error instanceof Error) error.message = scrub(error.message);
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    hosts,
    stop: () => (stopped ??= Promise.all(agents.map((agent) => agent.stop())).then(() => undefined)),
  };
}
