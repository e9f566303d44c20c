import { isPlainObject } from './data.js';
import { ConfigError } from './errors.js';

/** Log levels, least to most severe. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The executors this version has: the one list that validation, planning and the runtime use. */
export const EXECUTOR_KINDS = ['inline', 'worker', 'process', 'command'] as const;
/** How a step's code runs. */
export type ExecutorKind = (typeof EXECUTOR_KINDS)[number];


/** Settings of a whole run; each step may override the ones `StepConfig` repeats. */
export interface RunConfig {
  /** Most tasks active at once across the run; below 1 means no limit. */
  maxConcurrent: number;
  /** Stop starting tasks after a failure nothing handles. */
  stopOnException: boolean;
  /** Prefix of the environment variables a step sees (`EVENTOR_STEP_NAME`, ...). */
  envvarPrefix: string;
  /**
   * Log lines: their least level, whether they are printed to the console, and whether they
   * go to a JSON-lines file per run in `logdir` (default: when the store keeps runs).
   */
  logging: { level: LogLevel; console: boolean; file?: boolean };
  /** Folder of the JSON-lines log files, one per run. */
  logdir: string;
  /** Runs older than this many days are deleted when a new run starts; 0 keeps them all. */
  dayToKeepDb: number;
  /** The executor of `module` + `export` steps whose config names none. */
  executor: 'process' | 'worker' | 'inline';
  /** Threads in the pool of the worker executor; 0 means one per core. */
  workers: number;
  /** Seconds between SIGTERM and SIGKILL when a program or process step is stopped. */
  killGrace: number;
  /**
   * Seconds `close()` waits for running steps to finish after signalling them; a step still
   * running then is abandoned, on record as interrupted, for a recovery to run again.
   */
  closeGrace: number;
  /**
   * When a batch the store acknowledges is safe: 'process' (a crash of the process loses
   * nothing, a power loss may lose the last batches) or 'sync' (on disk before the write
   * returns, at one fdatasync per batch, which the runtime sends once per turn of the event loop).
   */
  durability: 'process' | 'sync';
  /** Where NATS is, for steps on other hosts and triggers from outside; else `EVENTOR_NATS_URL`. */
  nats?: NatsSettings;
  /** How to start over SSH the agents a flow needs that are not running. */
  ssh?: SshSettings;
}

/** How to reach one host over SSH; anything left out comes from `config.ssh` itself, then from `~/.ssh/config`. */
export interface SshHostSettings {
  /** The address to connect to (default: the ssh config's HostName, else the host's name). */
  host?: string;
  port?: number;
  user?: string;
  /** A private key file (OpenSSH or PEM); only this key is tried, besides the SSH agent. */
  key?: string;
  /** The passphrase of an encrypted `key`. */
  passphrase?: string;
  /** The agent's `--root` on this host (default: launchAgents' `root`). */
  root?: string;
  /** Work queues the agent on this host serves, besides those launchAgents is given. */
  queues?: string[];
}

/**
 * `config.ssh`: how the supervisor starts over SSH the agents its flow needs. Each setting of a
 * host is taken from `hosts[name]`, else from these settings, else from the ssh config file, else
 * from the defaults (the host's name, port 22, the current user, ~/.ssh/id_ed25519, id_ecdsa, id_rsa).
 */
export interface SshSettings {
  hosts?: Record<string, SshHostSettings>;
  user?: string;
  /** A private key file for every host that names none. */
  key?: string;
  passphrase?: string;
  port?: number;
  /** The OpenSSH client config to read (default ~/.ssh/config; a missing default file is no error). */
  configFile?: string;
  /** The known_hosts file host keys are checked against (default ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts). */
  knownHosts?: string;
  /** The agents' `--root` on every host that names none, when launchAgents is given none (default `.`, the remote user's home). */
  root?: string;
  /** The agent command on the remote hosts (default `npx eventor agent`), a line for the remote shell. */
  command?: string;
  /** The SSH agent's socket (default SSH_AUTH_SOCK, or the ssh config's IdentityAgent); false for none. */
  agent?: string | false;
  /** The NATS URL(s) as the remote hosts reach them, when they differ from the supervisor's (say, it uses 127.0.0.1). */
  natsServers?: string | string[];
  /** Seconds to connect, check the host key and log in (default: the ssh config's ConnectTimeout, else 10). */
  connectTimeout?: number;
  /** Seconds a stopping agent gets to drain before it is killed (default 30). */
  stopTimeout?: number;
}


/**
 * How to reach NATS and how the cluster behaves. Credentials go only to the connection: they
 * never appear in a log line, the store or an error.
 */
export interface NatsSettings {
  /** `nats://host:port`, or several. */
  servers: string | string[];
  user?: string;
  pass?: string;
  token?: string;
  /** An nkey seed (`SU...`). */
  nkey?: string;
  /** A `.creds` file (JWT and nkey seed), as NATS accounts give them. */
  credsFile?: string;
  /** TLS: the CA that signed the server's certificate, and a client certificate and key if the server asks for one (file paths). */
  tls?: { ca?: string; cert?: string; key?: string };
  /** First token of every subject and stream name (default `eventor`), so that clusters can share one NATS. */
  prefix?: string;
  /** Seconds before a queue task an agent took and did not finish goes to another agent (default 30). */
  ackWait?: number;
  /** Seconds the supervisor waits for the agents its flow needs to say hello (default 30). */
  agentTimeout?: number;
  /** Seconds without a heartbeat after which an agent is lost (default 5). */
  lostAfter?: number;
}

/** Settings of one step, overriding the run's. */
export interface StepConfig {
  stopOnException?: boolean;
  /** Most tasks of this step active at once, across sequences; below 1 means no limit. */
  maxConcurrent?: number;
  /** Seconds a task may run. */
  timeout?: number;
  /** Tries after the first one when a task fails; each try is recorded. */
  retries?: number;
  /** Seconds before the first retry. */
  retryDelay?: number;
  /** Each retry waits this many times longer than the one before (default 1). */
  retryBackoff?: number;
  executor?: ExecutorKind;
}

/** The run configuration when nothing is given. */
export const DEFAULT_RUN_CONFIG: RunConfig = {
  maxConcurrent: 0,
  stopOnException: true,
  envvarPrefix: 'EVENTOR_',
  logging: { level: 'info', console: true },
  logdir: '.eventor/logs',
  dayToKeepDb: 0,
  executor: 'process',
  workers: 0,
  killGrace: 5,
  closeGrace: 10,
  durability: 'process',
};

/** Settings a user may pass: any part of RunConfig. */
export type RunConfigInput = Partial<Omit<RunConfig, 'logging'>> & { logging?: Partial<RunConfig['logging']> };

/** Fills a partial run configuration with the defaults; refuses a config, or a logging, that is not an object of settings. */
export function resolveRunConfig(input: RunConfigInput = {}): RunConfig {
  // Spreading a string or an array would make settings of its characters or items, silently.
  if (!isPlainObject(input)) throw new ConfigError('config', input, 'an object of settings, such as { maxConcurrent: 4 }');
  if (input.logging !== undefined && !isPlainObject(input.logging)) throw new ConfigError('logging', input.logging, "an object such as { level: 'info', console: true }");
  // A setting given as undefined is a setting not given: it keeps its default.
  return {
    ...DEFAULT_RUN_CONFIG,
    ...given(input),
    logging: { ...DEFAULT_RUN_CONFIG.logging, ...given(input.logging ?? {}) },
  };
}

/** The settings that have a value; a key present as undefined would otherwise replace its default. */
function given<T extends object>(settings: T): Partial<T> {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as Partial<T>;
}
