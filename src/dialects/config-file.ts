import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { LOG_LEVELS, type LogLevel, type RunConfigInput } from '../model/config.js';
import { isPlainObject } from '../model/data.js';
import { ConfigError, describe } from '../model/errors.js';

/** What a configuration file sets: run settings, and the store its `database` names. */
export interface ConfigFile {
  config: RunConfigInput;
  /** The store of the DATABASES entry the file selects, as `store` takes it. */
  store?: string;
  /** The file it came from, for messages. */
  path: string;
}

type Section = Record<string, unknown>;

/** The seed's snake_case keys and our camelCase ones, by the name they are known by here. */
const EVENTOR_KEYS: Record<string, string> = {
  maxConcurrent: 'max_concurrent',
  stopOnException: 'stop_on_exception',
  envvarPrefix: 'envvar_prefix',
  dayToKeepDb: 'day_to_keep_db',
  executor: 'task_construct',
  workers: 'workers',
  killGrace: 'kill_grace',
  closeGrace: 'close_grace',
  durability: 'durability',
  logdir: 'logdir',
  debug: 'debug',
  database: 'database',
  nats: 'nats',
  ssh: 'ssh',
  sshConfig: 'ssh_config',
  sshPort: 'ssh_port',
};

/** Keys of the seed that mean nothing here (Eventor does not poll, and keeps no SQL): taken and ignored, so that a seed file loads. */
const SEED_ONLY = new Set(['sleep_between_loops', 'sleepBetweenLoops', 'sequence_arg_name', 'sequenceArgName', 'remote_method', 'remoteMethod', 'pass_logger_to_task', 'passLoggerToTask', 'shared_db', 'sharedDb', 'ssh_host', 'sshHost']);

const LOGGING_KEYS: Record<string, string> = { level: 'logging_level', console: 'console', file: 'file', logdir: 'logdir' };
const LOGGING_SEED_ONLY = new Set(['level_formats', 'consolidate', 'file_prefix', 'file_suffix', 'file_mode', 'maxBytes', 'backupCount', 'encoding', 'delay', 'when', 'interval', 'utc', 'atTime']);

/** How far apart two keys are, in edits: to name the key a typo meant. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const kept = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      previous = kept;
    }
  }
  return row[b.length];
}

/** An unknown key, named with the keys it could have meant. */
function unknownKey(section: string, key: string, known: string[], path: string): ConfigError {
  const near = known.filter((candidate) => distance(key, candidate) <= Math.max(2, Math.floor(key.length / 3))).sort((a, b) => distance(key, a) - distance(key, b));
  const hint = near.length ? `did you mean ${near.slice(0, 3).join(' or ')}?` : `the keys are ${known.join(', ')}`;
  return new ConfigError(`${section}.${key}`, key, `a key this configuration knows (${path}: ${hint})`);
}

/** Reads a section's keys under either spelling; an unknown key is an error that names what it could have meant. */
function readSection(section: string, given: Section, keys: Record<string, string>, ignored: Set<string>, path: string): Record<string, unknown> {
  const byName = new Map<string, string>();
  for (const [name, seed] of Object.entries(keys)) {
    byName.set(name, name);
    byName.set(seed, name);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given)) {
    if (ignored.has(key)) continue;
    const name = byName.get(key);
    if (name === undefined) throw unknownKey(section, key, [...new Set([...Object.keys(keys), ...Object.values(keys)])], path);
    out[name] = value;
  }
  return out;
}

/** The seed's numeric levels (10, 20, ...) or a level's name. */
function levelOf(value: unknown, path: string): LogLevel {
  const numeric: Record<number, LogLevel> = { 10: 'debug', 20: 'info', 30: 'warn', 40: 'error', 50: 'error' };
  if (typeof value === 'number' && numeric[value]) return numeric[value];
  const name = typeof value === 'string' ? value.toLowerCase().replace(/^warning$/, 'warn').replace(/^critical$/, 'error') : '';
  if ((LOG_LEVELS as readonly string[]).includes(name)) return name as LogLevel;
  throw new ConfigError('LOGGING.logging_level', value, `one of ${LOG_LEVELS.join(', ')}, or the seed's 10, 20, 30, 40 (${path})`);
}

/** The store a DATABASES entry names: a LevelDB folder, a NATS bucket, or memory. */
function storeOf(name: string, entry: unknown, base: string, path: string): string {
  if (!isPlainObject(entry)) throw new ConfigError(`DATABASES.${name}`, entry, `an entry such as { dialect: leveldb, folder: ./runs } (${path})`);
  const { dialect, folder, database, url } = entry as Section;
  switch (dialect) {
    case 'leveldb':
    case 'level': {
      const where = folder ?? database;
      if (typeof where !== 'string' || !where) throw new ConfigError(`DATABASES.${name}.folder`, where, `the LevelDB folder of the runs (${path})`);
      return resolve(base, where);
    }
    case 'nats':
      if (typeof url !== 'string' || !/^nats:\/\//.test(url)) throw new ConfigError(`DATABASES.${name}.url`, url, `a bucket's URL, nats://host:4222/bucket (${path})`);
      return url;
    case 'memory':
      return ':memory:';
    default:
      throw new ConfigError(`DATABASES.${name}.dialect`, dialect, `leveldb, nats or memory: Eventor keeps runs in a LevelDB folder or a NATS bucket, not in ${typeof dialect === 'string' ? dialect : 'a SQL database'} (${path})`);
  }
}

/**
 * Reads a configuration file in the seed's layout: an `EVENTOR:` section of run settings (the
 * seed's snake_case keys or camelCase), `DATABASES:` of stores with `EVENTOR.database` choosing
 * one, and `LOGGING:`. Keys of the seed that mean nothing here are ignored; any other unknown key
 * is a ConfigError naming it and the keys it could have meant.
 * @example
 * const { config, store } = loadConfigFile('eventor.yaml');
 */
export function loadConfigFile(file: string): ConfigFile {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('file', file, `a readable YAML file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new ConfigError('file', file, `YAML (${(error as Error).message.split('\n')[0]})`);
  }
  if (document === null || document === undefined) return { config: {}, path };
  if (!isPlainObject(document)) throw new ConfigError('file', describe(document), `sections EVENTOR, DATABASES and LOGGING (${path})`);
  const sections = document as Section;
  for (const key of Object.keys(sections)) if (!['EVENTOR', 'DATABASES', 'LOGGING'].includes(key)) throw unknownKey('(top)', key, ['EVENTOR', 'DATABASES', 'LOGGING'], path);
  const section = (name: string): Section => {
    const value = sections[name] ?? {};
    if (!isPlainObject(value)) throw new ConfigError(name, value, `a section of keys (${path})`);
    return value as Section;
  };
  const eventor = readSection('EVENTOR', section('EVENTOR'), EVENTOR_KEYS, SEED_ONLY, path);
  const logging = readSection('LOGGING', section('LOGGING'), LOGGING_KEYS, LOGGING_SEED_ONLY, path);
  const base = dirname(path);
  const { debug, database, sshConfig, sshPort, maxConcurrent, executor, logdir, ...rest } = eventor;
  const config: RunConfigInput = { ...(rest as RunConfigInput) };
  if (maxConcurrent !== undefined) config.maxConcurrent = typeof maxConcurrent === 'number' && maxConcurrent < 0 ? 0 : (maxConcurrent as number);
  // The seed's task_construct: process, or a thread, which is a worker here.
  if (executor !== undefined) config.executor = (executor === 'thread' ? 'worker' : executor) as RunConfigInput['executor'];
  const folder = logging.logdir ?? logdir;
  if (folder !== undefined) config.logdir = resolve(base, String(folder));
  const level = logging.level !== undefined ? levelOf(logging.level, path) : debug === true ? 'debug' : undefined;
  const logs: NonNullable<RunConfigInput['logging']> = {};
  if (level) logs.level = level;
  if (logging.console !== undefined) logs.console = logging.console as boolean;
  if (logging.file !== undefined) logs.file = logging.file as boolean;
  if (Object.keys(logs).length) config.logging = logs;
  if (sshConfig !== undefined || sshPort !== undefined) {
    config.ssh = { ...(config.ssh ?? {}), ...(sshConfig !== undefined ? { configFile: String(sshConfig) } : {}), ...(sshPort !== undefined ? { port: Number(sshPort) } : {}) };
  }
  const databases = section('DATABASES');
  let store: string | undefined;
  if (database !== undefined) {
    if (typeof database !== 'string' || !(database in databases)) throw new ConfigError('EVENTOR.database', database, `the name of an entry of DATABASES (${Object.keys(databases).join(', ') || 'there is none'}) (${path})`);
    store = storeOf(database, databases[database], base, path);
  } else if (Object.keys(databases).length === 1) {
    const [only] = Object.keys(databases);
    store = storeOf(only, databases[only], base, path);
  }
  return { config, store, path };
}
