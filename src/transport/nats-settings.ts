// Apart from the connection, so that a run without NATS reads its settings without loading the NATS client.
import type { NatsSettings } from '../model/config.js';
import { ConfigError } from '../model/errors.js';

/** The NATS a run uses: `config.nats`, else `EVENTOR_NATS_URL`, else none. */
export function natsSettingsOf(configured: NatsSettings | undefined, env: NodeJS.ProcessEnv = process.env): NatsSettings | undefined {
  if (configured !== undefined) {
    if (configured === null || typeof configured !== 'object' || Array.isArray(configured)) {
      const shown = typeof configured === 'string' ? maskServer(configured) : Array.isArray(configured) ? (configured as unknown[]).map(maskServer) : configured;
      throw new ConfigError('nats', shown, "an object such as { servers: 'nats://127.0.0.1:4222' }");
    }
    const servers = configured.servers ?? env.EVENTOR_NATS_URL;
    const valid = (server: unknown) => typeof server === 'string' && server.length > 0;
    if (!(valid(servers) || (Array.isArray(servers) && servers.length > 0 && servers.every(valid)))) {
      throw new ConfigError('nats.servers', Array.isArray(servers) ? (servers as unknown[]).map(maskServer) : maskServer(servers), "the URL of a NATS server such as 'nats://127.0.0.1:4222', or a list of them (or set EVENTOR_NATS_URL)");
    }
    for (const key of ['ackWait', 'agentTimeout', 'lostAfter'] as const) {
      const value = configured[key];
      if (value !== undefined && !(typeof value === 'number' && value > 0 && Number.isFinite(value))) throw new ConfigError(`nats.${key}`, value, 'a number of seconds above 0');
    }
    if (configured.prefix !== undefined && !(typeof configured.prefix === 'string' && /^[A-Za-z0-9_-]+$/.test(configured.prefix))) {
      throw new ConfigError('nats.prefix', configured.prefix, 'one subject token of letters, digits, _ and -, such as eventor');
    }
    return { ...configured, servers: servers as string | string[] };
  }
  const url = env.EVENTOR_NATS_URL;
  return url ? { servers: url.split(',').map((server) => server.trim()) } : undefined;
}

/** A server URL with whatever stands before its last @ (a user and password, which may hold / and @) masked, for messages. */
export function maskServer<T>(server: T): T | string {
  return typeof server === 'string' ? server.replace(/\/\/.*@/, '//***@') : server;
}
