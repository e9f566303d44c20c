import { existsSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isTypeScript } from '../executors/modules.js';
import { setDefaultFlowName } from '../dialects/eventor.js';
import { loadFlow } from '../dialects/yaml-flow.js';
import { EventorError } from '../model/errors.js';

/** Something `eventor run` can run: an Eventor, or anything shaped like one (Sequent later). */
export interface Runnable {
  run(options?: { maxLoops?: number }): Promise<boolean>;
  cancel?(reason?: string): Promise<void>;
  close(): Promise<void>;
}

function isRunnable(value: unknown): value is Runnable {
  return typeof value === 'object' && value !== null && typeof (value as Runnable).run === 'function' && typeof (value as Runnable).close === 'function';
}

/**
 * Loads a flow module: its default export is an Eventor, or a function (maybe async) that
 * builds one. TypeScript files are compiled on the fly.
 */
export async function loadRunnable(file: string): Promise<Runnable> {
  const path = resolve(file);
  if (!existsSync(path)) throw new EventorError(`flow file ${file} does not exist: give the path of a module whose default export is an Eventor`);
  if (['.yaml', '.yml'].includes(extname(path))) {
    setDefaultFlowName(basename(path, extname(path)));
    return loadFlow(path);
  }
  if (isTypeScript(path)) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  // A flow that gives no name is named after its file, and so is its default store folder.
  setDefaultFlowName(basename(path, extname(path)));
  let module: { default?: unknown };
  try {
    module = await import(pathToFileURL(path).href);
  } catch (error) {
    throw new EventorError(`flow file ${file} could not be loaded: ${(error as Error).message}`, { cause: error });
  }
  let flow = module.default;
  if (typeof flow === 'function') flow = await (flow as () => unknown)();
  if (!isRunnable(flow)) {
    throw new EventorError(`flow file ${file} has no default export to run: export default an Eventor, or a function that returns one`);
  }
  return flow;
}
