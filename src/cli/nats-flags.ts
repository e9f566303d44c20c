import type { Command } from 'commander';
import { ConfigError } from '../model/errors.js';
import type { NatsSettings } from '../model/config.js';

export interface NatsFlags {
  nats?: string;
  prefix?: string;
  user?: string;
  pass?: string;
  token?: string;
  creds?: string;
  nkey?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** NATS settings from the flags, else the EVENTOR_NATS_* variables; secrets are never echoed. */
export function natsFromFlags(options: NatsFlags): NatsSettings {
  const env = process.env;
  const servers = options.nats ?? env.EVENTOR_NATS_URL;
  if (!servers) throw new ConfigError('nats', undefined, 'a NATS URL: give --nats nats://host:4222, or set EVENTOR_NATS_URL');
  const settings: NatsSettings = { servers: servers.split(',').map((server) => server.trim()) };
  const pick = (flag: string | undefined, variable: string) => flag ?? env[variable];
  const user = pick(options.user, 'EVENTOR_NATS_USER');
  const pass = pick(options.pass, 'EVENTOR_NATS_PASS');
  const token = pick(options.token, 'EVENTOR_NATS_TOKEN');
  const creds = pick(options.creds, 'EVENTOR_NATS_CREDS');
  const nkey = pick(options.nkey, 'EVENTOR_NATS_NKEY');
  const prefix = pick(options.prefix, 'EVENTOR_NATS_PREFIX');
  if (user) settings.user = user;
  if (pass) settings.pass = pass;
  if (token) settings.token = token;
  if (creds) settings.credsFile = creds;
  if (nkey) settings.nkey = nkey;
  if (prefix) settings.prefix = prefix;
  // Read once: the steps an agent runs inherit its environment, and must not inherit its secrets.
  for (const variable of ['EVENTOR_NATS_PASS', 'EVENTOR_NATS_TOKEN', 'EVENTOR_NATS_NKEY']) delete env[variable];
  const ca = pick(options.tlsCa, 'EVENTOR_NATS_TLS_CA');
  const cert = pick(options.tlsCert, 'EVENTOR_NATS_TLS_CERT');
  const key = pick(options.tlsKey, 'EVENTOR_NATS_TLS_KEY');
  if (ca || cert || key) settings.tls = { ca, cert, key };
  return settings;
}

/** The connection flags every command that talks to NATS takes. */
export function withNatsFlags(command: Command): Command {
  return command
    .option('--nats <url>', 'NATS server URL(s), comma-separated (default: EVENTOR_NATS_URL)')
    .option('--prefix <token>', 'first token of every subject (default: eventor, or EVENTOR_NATS_PREFIX)')
    .option('--user <name>', 'NATS user (or EVENTOR_NATS_USER)')
    .option('--pass <password>', 'NATS password (or EVENTOR_NATS_PASS, which keeps it out of the process list)')
    .option('--token <token>', 'NATS token (or EVENTOR_NATS_TOKEN)')
    .option('--creds <file>', 'NATS .creds file (or EVENTOR_NATS_CREDS)')
    .option('--nkey <seed>', 'NATS nkey seed (or EVENTOR_NATS_NKEY)')
    .option('--tls-ca <file>', 'CA certificate of the NATS server (or EVENTOR_NATS_TLS_CA)')
    .option('--tls-cert <file>', 'client certificate (or EVENTOR_NATS_TLS_CERT)')
    .option('--tls-key <file>', 'client key (or EVENTOR_NATS_TLS_KEY)');
}

/** The secrets a run's settings hold (NATS password, token, nkey seed; SSH passphrases), to keep out of what the CLI prints. */
export function secretsOf(config: { nats?: Partial<NatsSettings>; ssh?: { passphrase?: string; hosts?: Record<string, { passphrase?: string }> } } | undefined): string[] {
  const secrets = [config?.nats?.pass, config?.nats?.token, config?.nats?.nkey, config?.ssh?.passphrase, ...Object.values(config?.ssh?.hosts ?? {}).map((host) => host.passphrase)];
  for (const variable of ['EVENTOR_NATS_PASS', 'EVENTOR_NATS_TOKEN', 'EVENTOR_NATS_NKEY']) secrets.push(process.env[variable]);
  // A short secret would blank out ordinary words too; such a secret is weak anyway.
  return [...new Set(secrets.filter((secret): secret is string => typeof secret === 'string' && secret.length >= 4))];
}

/** The redactor moved to src/observe (the dashboard needs it too); the CLI keeps importing it from here. */
export { redactor } from '../observe/redact.js';
