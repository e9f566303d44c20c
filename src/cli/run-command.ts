import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeConfig } from '../actors/runtime.js';
import type { InspectObserver } from '../actors/supervisor.js';
import type { RunConfigInput } from '../model/config.js';
import { EventorError } from '../model/errors.js';
import type { TransitionRecord } from '../model/records.js';
import { RunMode } from '../model/status.js';
import { loadRunnable, type FlowOverrides, type Runnable } from './load-flow.js';
import { natsFromFlags, redactor, secretsOf, type NatsFlags } from './nats-flags.js';

export interface RunFlags extends NatsFlags {
  store?: string;
  runId?: string;
  recovery?: number;
  maxConcurrent?: number;
  maxLoops?: number;
  quiet?: boolean;
  verbose?: boolean;
  json?: boolean;
  /** A configuration file; else EVENTOR_CONFIG. */
  config?: string;
  /** `--inspect` alone: a relay on loopback; with a URL: that WebSocket server. */
  inspect?: string | boolean;
  /** `--dashboard` alone: the live dashboard on a free port of loopback; with a number: on that port. */
  dashboard?: number | boolean;
}

const debug = process.argv.includes('--debug');

/** A word of a command line, quoted for a POSIX shell only when it needs it. */
const quote = (text: string) => (/^[\w./:@=+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`);

/** The command that takes up a run again, as a user would type it in the same folder. */
export function recoverCommand(file: string, runId: string | undefined, flags: RunFlags): string {
  const shown = relative(process.cwd(), file).startsWith('..') ? file : relative(process.cwd(), file) || file;
  const words = ['eventor', 'recover', quote(shown)];
  if (runId) words.push('--run-id', quote(runId));
  if (flags.store) words.push('--store', quote(flags.store));
  if (flags.config) words.push('--config', quote(flags.config));
  return words.join(' ');
}

/** The folders of Eventor's own code: frames in them say nothing about a user's step. */
const OWN_CODE = [fileURLToPath(new URL('../', import.meta.url)), fileURLToPath(new URL('../../src/', import.meta.url))];
const internalFrame = (line: string) => /^\s+at /.test(line) && (/\(?node:/.test(line) || OWN_CODE.some((folder) => line.includes(folder)) || /node_modules\/(xstate|tsx)\//.test(line));

/**
 * Drops the stack frames of Eventor's internals (and of Node's) from console text, so that a
 * failed step's error shows the user's own frames. A record's closing ` ]` stays.
 */
export function trimStack(text: string): string {
  if (!text.includes('    at ')) return text;
  const kept: string[] = [];
  for (const line of text.split('\n')) {
    if (!internalFrame(line)) {
      kept.push(line);
      continue;
    }
    if (line.endsWith(' ]') && kept.length > 0) kept[kept.length - 1] += ' ]';
  }
  return kept.join('\n');
}

/** A stream of console text with Eventor's stack frames trimmed, unless --debug. */
function consoleOf(out: { write(text: string): unknown }): { write(text: string): unknown } {
  return debug ? out : { write: (text: string) => out.write(trimStack(text)) };
}

/** Opens what `--inspect` asks for: a relay on loopback (no URL) and a WebSocket inspector that sends to it or to the URL. */
async function openInspector(target: string | true, say: (line: string) => void): Promise<{ inspect: InspectObserver; stop(): Promise<void> }> {
  const { startInspectRelay, webSocketInspect } = await import('../observe/inspect-relay.js');
  let relay: Awaited<ReturnType<typeof startInspectRelay>> | undefined;
  let url: string;
  if (target === true) {
    relay = await startInspectRelay();
    url = relay.url;
    say(
      `eventor: inspection events of the run go to the relay at ${url}; follow them with createWebSocketReceiver({ server: '${url}' }) of @statelyai/inspect, or the dashboard's actor view\n`,
    );
  } else {
    if (!/^wss?:\/\//.test(target)) throw new EventorError(`--inspect ${target} is not a WebSocket URL: give ws://host:port, or --inspect alone for a relay on loopback`);
    url = target;
    await reachable(url);
    say(`eventor: inspection events of the run go to ${url}\n`);
  }
  const inspector = webSocketInspect(url);
  return {
    inspect: inspector.inspect as InspectObserver,
    stop: async () => {
      inspector.stop();
      await relay?.close();
    },
  };
}

/** Fails at once, with a message, when no WebSocket server answers at `url` (the inspector itself would retry silently forever). */
async function reachable(url: string): Promise<void> {
  const { WebSocket } = await import('ws');
  await new Promise<void>((resolve, reject) => {
    const socket = new WebSocket(url);
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new EventorError(`--inspect ${url}: no WebSocket server answered within 5 s: start the receiver first, or give --inspect alone for a relay on loopback`));
    }, 5000);
    socket.once('open', () => {
      clearTimeout(timer);
      socket.close();
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new EventorError(`--inspect ${url}: cannot connect (${error.message}): start the receiver first, or give --inspect alone for a relay on loopback`));
    });
  });
}

/** One inspection observer that hands every event to each of those given. */
function bothInspectors(...observers: (InspectObserver | ((event: unknown) => void) | undefined)[]): InspectObserver | undefined {
  const given = observers.filter((observer) => observer !== undefined);
  if (given.length <= 1) return given[0] as InspectObserver | undefined;
  const calls = given.map((observer) => (typeof observer === 'function' ? observer : (event: unknown) => observer.next?.(event as never)));
  return (event) => {
    for (const call of calls) call(event);
  };
}

/** Serves the live dashboard of a run on loopback, fed by the run's transitions; it stops with the run. */
async function openDashboard(flow: Runnable, flags: RunFlags, config: RunConfigInput | undefined, say: (line: string) => void, actors: import('../observe/dashboard-actors.js').ActorView | undefined) {
  const { startDashboard, LiveRunSource } = await import('../observe/dashboard.js');
  const name = flow.name ?? 'eventor';
  const graph = flow.toGraph?.() ?? { nodes: [], edges: [], groups: [] };
  const spec = flow.toSpec?.();
  const source = new LiveRunSource({ name, runId: () => flow.runId ?? '', graph, store: flags.store ?? `.eventor/${name}`, logdir: spec?.config.logdir ?? config?.logdir ?? '.eventor/logs' });
  // The flow's own settings may hold secrets too (config.nats.pass in a flow file).
  const secrets = [...secretsOf(config), ...secretsOf(spec?.config)];
  const dashboard = await startDashboard({ source, port: typeof flags.dashboard === 'number' ? flags.dashboard : 0, secrets, actors, cancel: () => flow.cancel?.('cancelled from the dashboard') });
  say(`eventor: the dashboard of the run is at ${dashboard.url} (it stops with the run; eventor ui shows the run afterwards)\n`);
  return { update: (transition: TransitionRecord) => source.update(transition), finish: (status: Parameters<typeof source.finish>[0]) => source.finish(status), close: () => dashboard.close() };
}

/** Once stdout's reader has gone (`| head`), nothing more is written to it; the run goes on (see main.ts). */
const writeOut = (text: string) => {
  if (!process.stdout.destroyed) process.stdout.write(text);
};

/** The work a flow still has on record, for a pass that stopped with delays pending. */
async function outstanding(flow: Runnable): Promise<number> {
  const count = (flow as { countTodos?: () => Promise<{ total: number }> }).countTodos;
  if (typeof count !== 'function') return 0;
  try {
    return (await count.call(flow)).total;
  } catch {
    return 0;
  }
}

/**
 * Runs, recovers or continues a flow file, and sets the exit code: 0 success, 1 failed or not
 * finished (stopped, or paused with delays pending). Usage errors are thrown, for exit code 2.
 */
export async function runCommand(file: string, flags: RunFlags, runMode: RunMode): Promise<void> {
  const configPath = flags.config ?? process.env.EVENTOR_CONFIG;
  let fromFile: { config: RunConfigInput; store?: string } | undefined;
  if (configPath) {
    const { loadConfigFile } = await import('../dialects/config-file.js');
    fromFile = loadConfigFile(configPath);
  }
  // The file feeds every setting the flow leaves out; a flag wins over both. Nested blocks (logging, nats) merge.
  const fromFlags: RunConfigInput = {};
  if (flags.maxConcurrent !== undefined) fromFlags.maxConcurrent = flags.maxConcurrent;
  if (flags.quiet) fromFlags.logging = { console: false };
  else if (flags.verbose) fromFlags.logging = { level: 'debug' };
  const natsGiven = [flags.nats, flags.user, flags.pass, flags.token, flags.creds, flags.nkey, flags.prefix, flags.tlsCa, flags.tlsCert, flags.tlsKey].some((value) => value !== undefined);
  if (natsGiven) fromFlags.nats = natsFromFlags(flags);
  const flagConfig = Object.keys(fromFlags).length ? fromFlags : undefined;
  const redact = redactor(secretsOf(mergeConfig(fromFile?.config, flagConfig)));

  // The live block, on a terminal only; JSON records on that same terminal would cut through it.
  const showProgress = process.stderr.isTTY === true && !flags.quiet && !(flags.json && process.stdout.isTTY);
  const { setConsoleStream } = await import('../observe/log.js');
  let block: import('../observe/progress.js').ProgressBlock | undefined;
  const say = (text: string) => (block ? block.write(text) : process.stderr.write(text));

  let inspector: Awaited<ReturnType<typeof openInspector>> | undefined;
  if (flags.inspect !== undefined && flags.inspect !== false) inspector = await openInspector(flags.inspect === true ? true : flags.inspect, say);

  // The dashboard's actor view follows the run's inspection events, beside any --inspect target.
  let actorView: import('../observe/dashboard-actors.js').ActorView | undefined;
  if (flags.dashboard !== undefined && flags.dashboard !== false) {
    const { ActorView } = await import('../observe/dashboard-actors.js');
    actorView = new ActorView();
  }
  const inspect = bothInspectors(inspector?.inspect, actorView?.inspect);

  const overrides: FlowOverrides = {
    store: flags.store,
    runMode: runMode === RunMode.restart ? undefined : runMode,
    runId: flags.runId,
    recoveryRun: flags.recovery,
    config: flagConfig,
    inspect,
    defaults: fromFile ? { store: fromFile.store, config: fromFile.config } : undefined,
  };
  let flow: Runnable;
  try {
    flow = await loadRunnable(file, overrides);
  } catch (error) {
    await inspector?.stop();
    throw error;
  }

  if (showProgress) {
    const { ProgressBlock } = await import('../observe/progress.js');
    block = new ProgressBlock(process.stderr, flow.name ?? 'eventor');
    setConsoleStream(consoleOf(block));
  } else setConsoleStream(consoleOf(process.stderr));

  const listeners: ((transition: TransitionRecord) => void)[] = [];
  if (block) listeners.push((transition) => block?.update(transition));
  let dashboard: Awaited<ReturnType<typeof openDashboard>> | undefined;
  if (flags.dashboard !== undefined && flags.dashboard !== false) {
    try {
      dashboard = await openDashboard(flow, flags, mergeConfig(fromFile?.config, flagConfig), say, actorView);
    } catch (error) {
      await flow.close();
      await inspector?.stop();
      throw error;
    }
    listeners.push(dashboard.update);
  }
  if (flags.json) {
    listeners.push((transition) => {
      const record: Record<string, unknown> = { ...transition, at: new Date(transition.at).toISOString() };
      if (transition.error && !debug && transition.error.stack) record.error = { ...transition.error, stack: trimStack(transition.error.stack) };
      writeOut(`${redact(JSON.stringify(record))}\n`);
    });
  }
  let unsubscribe: (() => void) | undefined;
  if (listeners.length) {
    if (!flow.subscribe) throw new EventorError(`flow file ${file} makes a flow without subscribe(): --json, --dashboard and the progress display need an Eventor or a Sequent`);
    unsubscribe = flow.subscribe((transition) => {
      for (const listener of listeners) listener(transition);
    });
  }

  // SIGINT or SIGTERM cancels the run: no new task starts, running ones are signalled, the
  // store stays consistent, and the recover command printed finishes the run. A second one exits at once.
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) process.exit(130);
    signalled = true;
    let runId: string | undefined;
    try {
      runId = flow.runId || flags.runId;
    } catch {
      runId = flags.runId;
    }
    say(`eventor: ${signal}: cancelling the run (${signal} again to exit at once); finish it later with:\n  ${recoverCommand(file, runId, { ...flags, store: flags.store })}\n`);
    void flow.cancel?.(`received ${signal}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let ok = false;
  let left = 0;
  try {
    ok = await flow.run({ maxLoops: flags.maxLoops });
    if (ok && !signalled) left = await outstanding(flow);
  } finally {
    dashboard?.finish(signalled ? 'stopped' : ok ? (left === 0 ? 'success' : 'waiting') : 'failure');
    await dashboard?.close();
    unsubscribe?.();
    await flow.close();
    await inspector?.stop();
    block?.close();
    setConsoleStream(undefined);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  // A pass that leaves delays pending has not finished: exit 1, as the log line above says how to go on.
  process.exitCode = ok && !signalled && left === 0 ? 0 : 1;
}
