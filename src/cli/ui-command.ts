import { secretsOf } from './nats-flags.js';

/** The options of `eventor ui`. */
export interface UiOptions {
  store?: string;
  config?: string;
  port?: number;
  host?: string;
  token?: string;
  logdir?: string;
  /** A flow file, to draw its runs' graphs with their arrows (a store keeps only the steps). */
  flow?: string;
}

/**
 * `eventor ui`: serves the dashboard over the runs of a store (or of every store under
 * `.eventor/` here), reading only, until SIGINT or SIGTERM. A store that a run holds now is
 * shown with a note instead of its runs.
 */
export async function uiCommand(options: UiOptions): Promise<void> {
  const { readConfigFile } = await import('./store-commands.js');
  const { config, store } = await readConfigFile(options.config);
  // A NATS store's credentials: the configuration file's, else the EVENTOR_NATS_* variables (this command's --token is the dashboard's).
  const env = process.env;
  const nats: import('../store/nats-store.js').NatsStoreSettings = { ...config?.nats };
  for (const [key, variable] of [['user', 'EVENTOR_NATS_USER'], ['pass', 'EVENTOR_NATS_PASS'], ['token', 'EVENTOR_NATS_TOKEN'], ['credsFile', 'EVENTOR_NATS_CREDS'], ['nkey', 'EVENTOR_NATS_NKEY']] as const) {
    if (nats[key] === undefined && env[variable]) nats[key] = env[variable];
  }
  const { startDashboard, StoreSource } = await import('../observe/dashboard.js');
  const graphs = new Map<string, import('../observe/mermaid.js').Graph>();
  if (options.flow) {
    const { loadRunnable } = await import('./load-flow.js');
    const flow = await loadRunnable(options.flow);
    try {
      if (flow.toGraph && flow.name) graphs.set(flow.name, flow.toGraph());
    } finally {
      await flow.close();
    }
  }
  const source = new StoreSource({ store: options.store ?? store, logdir: options.logdir ?? config?.logdir ?? '.eventor/logs', nats, graphs });
  const dashboard = await startDashboard({ source, host: options.host, port: options.port, token: options.token, secrets: secretsOf({ ...config, nats }) });
  process.stdout.write(`eventor: dashboard of ${options.store ?? store ?? 'the stores under .eventor/'} at ${dashboard.url} (read-only; Ctrl-C stops it)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void dashboard.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
