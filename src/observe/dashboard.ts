import { createReadStream, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { timingSafeEqual } from 'node:crypto';
import { EventorError } from '../model/errors.js';
import type { ActorView } from './dashboard-actors.js';
import type { DashboardSource } from './dashboard-source.js';
import { APP_CSS, APP_JS, PAGE_HTML } from './dashboard/assets.js';
import { redactor } from './redact.js';

export { ActorView } from './dashboard-actors.js';
export { LiveRunSource, StoreSource, type DashboardEvent, type DashboardSource } from './dashboard-source.js';

/** How a dashboard is served. */
export interface DashboardOptions {
  source: DashboardSource;
  /** 127.0.0.1 unless given; any other address needs `token`. */
  host?: string;
  /** 0 (the default) takes a free port. */
  port?: number;
  /** Required for every request but reading (GET) when given; required to listen beyond loopback. */
  token?: string;
  /** Secrets to blank out of every response (NATS passwords, tokens, SSH passphrases). */
  secrets?: readonly string[];
  /** A live run's actor view, fed by its XState inspection events. */
  actors?: ActorView;
  /** Called when a request asks the live run to stop (POST /api/cancel, with the token). */
  cancel?: () => Promise<void> | void;
}

/** A dashboard being served. */
export interface Dashboard {
  /** `http://HOST:PORT/` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Whether an address is loopback only. */
export const isLoopback = (host: string) => LOOPBACK.has(host) || /^127\./.test(host);

const PAGE_SIZE = 100;
const MAX_PAGE = 1000;
const LOG_LINES = 200;

const sameText = (given: string, expected: string) => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/**
 * Serves the dashboard of a store's runs or of a live run: the page, a JSON API
 * (`/api/runs`, `/api/runs/ID`, `/api/runs/ID/tasks`, `/api/runs/ID/log`) and server-sent events
 * of task transitions (`/api/events`). It listens on loopback unless told otherwise, and then
 * only with a token, which every request that is not a read must carry
 * (`Authorization: Bearer TOKEN`). Every response goes through the redactor.
 *
 * @example
 * const dashboard = await startDashboard({ source: new StoreSource({ store: '.eventor/etl', logdir: '.eventor/logs' }) });
 * console.log(dashboard.url);
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host) && !options.token) throw new EventorError(`the dashboard listens on ${host}, beyond loopback, only with a token: give --token TOKEN (or leave --host out for 127.0.0.1)`);
  const redact = redactor([...(options.secrets ?? []), ...(options.token ? [options.token] : [])]);
  if (options.actors) options.actors.redact = redact;
  const streams = new Set<ServerResponse>();
  const unsubscribe = options.source.subscribe?.((event) => {
    const text = `event: ${event.type}\ndata: ${redact(JSON.stringify(event.type === 'transition' ? event.transition : event))}\n\n`;
    for (const stream of streams) stream.write(text);
  });
  const unsubscribeActors = options.actors?.onChange(() => {
    for (const stream of streams) stream.write('event: actors\ndata: {}\n\n');
  });

  const send = (response: ServerResponse, status: number, type: string, body: string) => {
    response.writeHead(status, {
      'content-type': type,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      // Everything the page needs is served here: no CDN, no inline script.
      'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    });
    response.end(redact(body));
  };
  const json = (response: ServerResponse, value: unknown, status = 200) => send(response, status, 'application/json; charset=utf-8', JSON.stringify(value));
  const fail = (response: ServerResponse, status: number, message: string) => json(response, { error: message }, status);

  let port = 0;
  const allowed = (request: IncomingMessage): string | undefined => {
    // On loopback, a page of another site could reach us through DNS rebinding: answer only to our own names.
    const hostHeader = (request.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (isLoopback(host) && !isLoopback(hostHeader)) return 'this dashboard answers on loopback names only';
    return undefined;
  };
  const mayWrite = (request: IncomingMessage): boolean => {
    if (options.token) {
      const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      return given !== undefined && sameText(given, options.token);
    }
    // No token (loopback only): a write must come from our own page, not from a page of another site.
    const origin = request.headers.origin;
    return origin === undefined || origin === `http://${request.headers.host}`;
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const refused = allowed(request);
    if (refused) return fail(response, 403, refused);
    const url = new URL(request.url ?? '/', 'http://dashboard');
    const path = url.pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      if (!mayWrite(request)) return fail(response, 401, 'this request changes something: give the dashboard token as Authorization: Bearer TOKEN');
      if (request.method === 'POST' && path === '/api/cancel') {
        if (!options.cancel) return fail(response, 404, 'no live run to cancel here');
        await options.cancel();
        return json(response, { cancelled: true });
      }
      return fail(response, 404, `no ${request.method} ${path} here`);
    }
    if (path === '/') return send(response, 200, 'text/html; charset=utf-8', PAGE_HTML);
    if (path === '/app.js') return send(response, 200, 'text/javascript; charset=utf-8', APP_JS);
    if (path === '/app.css') return send(response, 200, 'text/css; charset=utf-8', APP_CSS);
    if (path === '/api/runs') return json(response, { ...(await options.source.runs()), live: Boolean(options.source.subscribe), canCancel: Boolean(options.cancel), actors: Boolean(options.actors) });
    if (path === '/api/actors' || path.startsWith('/api/actors/')) {
      if (!options.actors) return fail(response, 404, 'no actor view here: it follows a live run (eventor run FLOW --dashboard)');
      if (path === '/api/actors') {
        const offset = Math.max(0, Number(url.searchParams.get('offset')) || 0);
        const limit = Math.min(MAX_PAGE, Math.max(1, Number(url.searchParams.get('limit')) || PAGE_SIZE));
        return json(response, { ...options.actors.list({ offset, limit, match: url.searchParams.get('match') ?? undefined }), offset, limit, recent: options.actors.events(20) });
      }
      const found = options.actors.actor(decodeURIComponent(path.slice('/api/actors/'.length)));
      return found ? json(response, found) : fail(response, 404, 'no such actor');
    }
    if (path === '/api/events') {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      response.write(': connected\n\n');
      streams.add(response);
      request.on('close', () => streams.delete(response));
      return;
    }
    const match = /^\/api\/runs\/([^/]+)(?:\/(tasks|log))?$/.exec(path);
    if (!match) return fail(response, 404, `nothing at ${path}`);
    const runId = decodeURIComponent(match[1]);
    if (match[2] === undefined) {
      const detail = await options.source.run(runId);
      return detail ? json(response, detail) : fail(response, 404, `no run ${runId}`);
    }
    if (match[2] === 'tasks') {
      const all = await options.source.tasks(runId);
      if (!all) return fail(response, 404, `no run ${runId}`);
      const status = url.searchParams.get('status');
      const step = url.searchParams.get('step');
      const shown = all.filter((task) => (!status || task.status === status) && (!step || task.step.includes(step)));
      const offset = Math.max(0, Number(url.searchParams.get('offset')) || 0);
      const limit = Math.min(MAX_PAGE, Math.max(1, Number(url.searchParams.get('limit')) || PAGE_SIZE));
      return json(response, { total: shown.length, all: all.length, offset, limit, tasks: shown.slice(offset, offset + limit) });
    }
    const step = url.searchParams.get('step') ?? '';
    const sequence = url.searchParams.get('sequence') ?? '';
    const file = await options.source.logFile(runId);
    if (!file || !existsSync(file)) return json(response, { lines: [], note: 'this run has no log file (logging: { file: false }, or another logdir: give --logdir)' });
    return json(response, { lines: await logTail(file, step, sequence, Math.min(MAX_PAGE, Number(url.searchParams.get('lines')) || LOG_LINES)) });
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) fail(response, 500, error instanceof Error ? error.message : String(error));
      else response.end();
    });
  });
  const heartbeat = setInterval(() => {
    for (const stream of streams) stream.write(': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(heartbeat);
        unsubscribe?.();
        unsubscribeActors?.();
        for (const stream of streams) stream.end();
        streams.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A log line as the page shows it. */
export interface DashboardLogLine {
  time: number | string | null;
  level: number | string | null;
  msg: string;
}

/** The last `count` lines of a run's JSON-lines log that belong to one task (or all of them, with no step). */
export async function logTail(file: string, step: string, sequence: string, count: number): Promise<DashboardLogLine[]> {
  const kept: DashboardLogLine[] = [];
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (step && (record.step !== step || (sequence && String(record.sequence) !== sequence))) continue;
    kept.push({ time: (record.time as number | string | undefined) ?? null, level: (record.level as number | string | undefined) ?? null, msg: String(record.msg ?? '') });
    if (kept.length > count) kept.shift();
  }
  return kept;
}
