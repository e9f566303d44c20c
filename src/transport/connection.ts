import { readFileSync } from 'node:fs';
import { AckPolicy, DeliverPolicy, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { connect, credsAuthenticator, nanos, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { NatsSettings } from '../model/config.js';
import { NatsConnectionError } from '../model/errors.js';
import { Subjects } from './protocol.js';

export { natsSettingsOf, maskServer } from './nats-settings.js';
import { maskServer } from './nats-settings.js';

/** The settings' servers, with any password in a URL masked, for messages. */
export function shownServers(settings: NatsSettings): string {
  const servers = Array.isArray(settings.servers) ? settings.servers : [settings.servers];
  return servers.map((server) => maskServer(server)).join(', ');
}

/**
 * Servers without the credentials a URL may carry (`nats://user:pass@host:4222`; the user and
 * password may hold / and @, so the host is what follows the last @), those credentials, and the
 * raw password parts, to take out of any text shown.
 */
export function withoutUrlCredentials(given: string | string[]): { servers: string[]; user?: string; pass?: string; raw: string[] } {
  let user: string | undefined;
  let pass: string | undefined;
  const raw: string[] = [];
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  const servers = (Array.isArray(given) ? given : [given]).flatMap((server) => server.split(',')).map((server) => server.trim()).filter(Boolean).map((server) => {
    const match = /^([a-z][a-z0-9+.-]*:\/\/)(.*)@([^@]*)$/i.exec(server);
    if (!match) return server;
    const [, scheme, userinfo, rest] = match;
    const colon = userinfo.indexOf(':');
    user ??= decode(colon < 0 ? userinfo : userinfo.slice(0, colon));
    if (colon >= 0) {
      pass ??= decode(userinfo.slice(colon + 1));
      raw.push(userinfo.slice(colon + 1));
    } else raw.push(userinfo);
    return `${scheme}${rest}`;
  });
  return { servers, user, pass, raw };
}

/** The subjects of a cluster's prefix. */
export function subjectsOf(settings: NatsSettings): Subjects {
  return new Subjects(settings.prefix ?? 'eventor');
}

/**
 * Connects to NATS, keeping on reconnecting for as long as the connection is used (a server
 * restarted mid-run is waited for, not fatal). A server that cannot be reached, or refuses
 * the credentials, is a NatsConnectionError that names the servers and never the secrets.
 */
export async function connectNats(settings: NatsSettings, name: string): Promise<NatsConnection> {
  const fromUrl = withoutUrlCredentials(settings.servers);
  const servers = fromUrl.servers;
  const user = settings.user ?? fromUrl.user;
  const pass = settings.user !== undefined ? settings.pass : (settings.pass ?? fromUrl.pass);
  const secrets = { ...settings, pass };
  let authenticator;
  try {
    if (settings.credsFile) authenticator = credsAuthenticator(readFileSync(settings.credsFile));
    else if (settings.nkey) authenticator = nkeyAuthenticator(new TextEncoder().encode(settings.nkey));
  } catch (error) {
    throw new NatsConnectionError(`cannot read the NATS credentials${settings.credsFile ? ` file ${settings.credsFile}` : ' (nkey seed)'}: ${(error as NodeJS.ErrnoException).code ?? 'not a valid seed'}; check config.nats`, { cause: error });
  }
  const tls = settings.tls ? { caFile: settings.tls.ca, certFile: settings.tls.cert, keyFile: settings.tls.key } : undefined;
  try {
    return await connect({
      servers,
      name,
      user,
      pass,
      token: settings.token,
      authenticator,
      tls,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 5000,
      // A stack trace captured for every request, in case it fails, was a tenth of a fan-out's time.
      noAsyncTraces: true,
    });
  } catch (error) {
    const text = fromUrl.raw.reduce((shown, raw) => shown.split(raw).join('***'), scrub((error as Error)?.message ?? String(error), secrets));
    const refused = /authoriz|authentic|credential|permission|nkeys|seed/i.test(text) || (error as Error)?.name === 'AuthorizationError';
    const tlsFailed = /certificate|self[- ]signed|\btls\b|\bssl\b|handshake/i.test(text);
    const why = refused
      ? `refused the credentials (${text}): check config.nats user/pass, token, nkey or credsFile (agents: --user/--pass, --token, --creds or EVENTOR_NATS_* variables)`
      : tlsFailed
        ? `did not pass TLS (${text}): give the CA that signed the server's certificate as config.nats.tls.ca (agents: --tls-ca or EVENTOR_NATS_TLS_CA), and a client certificate and key if the server asks for one`
        : `cannot be reached (${text}): start nats-server with JetStream (nats-server -js), or fix config.nats.servers / EVENTOR_NATS_URL`;
    throw new NatsConnectionError(`NATS at ${shownServers(settings)} ${why}`, { cause: error });
  }
}

/** A message of the client's, with any secret of the settings taken out. */
function scrub(text: string, settings: NatsSettings): string {
  let shown = text;
  for (const secret of [settings.pass, settings.token, settings.nkey]) if (secret) shown = shown.split(secret).join('***');
  return shown;
}

/**
 * Makes the cluster's two streams if they are missing: the tasks (a work queue: a task leaves
 * the stream once an agent acknowledges it) and the outcomes of every run (kept a week, so that
 * a supervisor that died collects what its agents finished while it was down).
 */
export async function ensureStreams(nc: NatsConnection, subjects: Subjects): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  const ensure = async (name: string, config: Parameters<JetStreamManager['streams']['add']>[0]) => {
    try {
      await jsm.streams.info(name);
    } catch {
      try {
        await jsm.streams.add(config);
      } catch (error) {
        // Another peer made it in between.
        await jsm.streams.info(name).catch(() => {
          throw error;
        });
      }
    }
  };
  await ensure(subjects.tasksStream, { name: subjects.tasksStream, subjects: [subjects.allTasks], retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: nanos(120_000) });
  await ensure(subjects.outcomesStream, { name: subjects.outcomesStream, subjects: [subjects.allOutcomes], retention: RetentionPolicy.Limits, storage: StorageType.File, max_age: nanos(7 * 86_400_000), duplicate_window: nanos(120_000) });
  return jsm;
}

/** Makes (or updates to `ackWaitMs`) the durable consumer of a host's or a queue's tasks. */
export async function ensureConsumer(jsm: JetStreamManager, stream: string, name: string, filter: string, ackWaitMs: number | undefined): Promise<void> {
  const ackWait = nanos(ackWaitMs ?? 30_000);
  try {
    const info = await jsm.consumers.info(stream, name);
    if (ackWaitMs !== undefined && info.config.ack_wait !== ackWait) await jsm.consumers.update(stream, name, { ack_wait: ackWait });
    return;
  } catch (error) {
    if (!/not found/i.test((error as Error)?.message ?? '')) throw error;
  }
  try {
    await jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit, filter_subject: filter, ack_wait: ackWait, deliver_policy: DeliverPolicy.All, max_deliver: -1, max_ack_pending: -1 });
  } catch (error) {
    await jsm.consumers.info(stream, name).catch(() => {
      throw error;
    });
  }
}
