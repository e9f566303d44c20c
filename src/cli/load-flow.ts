import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TransitionListener, InspectObserver } from '../actors/supervisor.js';
import type { RunConfigInput } from '../model/config.js';
import { ValidationError } from '../model/errors.js';
import type { RunMode } from '../model/status.js';
import type { FlowSpec } from '../model/spec.js';
import type { Graph } from '../observe/mermaid.js';

/** Something `eventor run` can run: an Eventor or a Sequent, or anything shaped like one. */
export interface Runnable {
  run(options?: { maxLoops?: number }): Promise<boolean>;
  cancel?(reason?: string): Promise<void>;
  close(): Promise<void>;
  subscribe?(listener: TransitionListener): () => void;
  toMermaid?(): string;
  toGraph?(): Graph;
  toSpec?(): FlowSpec;
  readonly runId?: string;
  readonly name?: string;
}

/**
 * What the command line gives the flow it loads. The overrides win over what the flow sets
 * itself, `defaults` (a configuration file's) fill only what it leaves out; both reach every
 * flow the file builds, whether a YAML flow, a module's built Eventor or a function's.
 */
export interface FlowOverrides {
  store?: string;
  runMode?: RunMode;
  runId?: string;
  recoveryRun?: number;
  config?: RunConfigInput;
  inspect?: InspectObserver;
  defaults?: { store?: string; config?: RunConfigInput };
}

/** A flow file that cannot be loaded as a flow: missing, a folder, of a kind Eventor does not read, or a module that fails. */
export class FlowLoadError extends ValidationError {
  constructor(
    readonly file: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`flow file ${file} ${problem}`, options);
  }
}

/** Extensions `eventor` reads a flow from. */
export const FLOW_FILE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.yaml', '.yml', '.json'];
const DATA_EXTENSIONS = ['.yaml', '.yml', '.json'];
const KINDS = 'a module (.ts, .mts, .js, .mjs) whose default export is a flow or builds one, a YAML or JSON flow (.yaml, .yml, .json), or a machine config (.machine.json, .machine.yaml)';

function isRunnable(value: unknown): value is Runnable {
  return typeof value === 'object' && value !== null && typeof (value as Runnable).run === 'function' && typeof (value as Runnable).close === 'function';
}

/** Whether a file is an XState machine config rather than a flow: by its name, else by its top-level keys. */
function isMachineConfig(path: string): boolean {
  if (/\.machine\.(json|ya?ml)$/i.test(path)) return true;
  if (extname(path).toLowerCase() !== '.json') return false;
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    return typeof data === 'object' && data !== null && 'states' in data && !('steps' in data);
  } catch {
    return false;
  }
}

/** The `type` field of the package.json nearest to a file, which decides whether Node reads its `.ts`/`.js` as ES modules. */
function packageType(path: string): { type: string | undefined; file: string | undefined } {
  for (let folder = dirname(path); ; folder = dirname(folder)) {
    const file = join(folder, 'package.json');
    if (existsSync(file)) {
      try {
        return { type: (JSON.parse(readFileSync(file, 'utf8')) as { type?: string }).type, file };
      } catch {
        return { type: undefined, file };
      }
    }
    if (dirname(folder) === folder) return { type: undefined, file: undefined };
  }
}

/** Node's words when a module written as ES module syntax is read as CommonJS. */
const ESM_AS_COMMONJS = /Cannot require\(\) ES Module|Cannot use import statement outside a module|ERR_REQUIRE_ESM|ERR_REQUIRE_CYCLE_MODULE|require\(\) of ES Module|Unexpected token 'export'|exports is not defined in ES module/;

/** Refuses a path that is not a flow file, with what it is and what to give instead. */
function checkFlowPath(file: string, path: string): void {
  if (!existsSync(path)) {
    const kind = DATA_EXTENSIONS.includes(extname(path).toLowerCase()) ? `a ${extname(path).slice(1).toUpperCase()} flow or machine config` : FLOW_FILE_EXTENSIONS.includes(extname(path).toLowerCase()) ? 'a module whose default export is a flow or builds one' : KINDS;
    throw new FlowLoadError(file, `does not exist (no file at ${path}): check the path, which is relative to ${process.cwd()}; give ${kind}`);
  }
  if (statSync(path).isDirectory()) throw new FlowLoadError(file, `is a folder: give the path of the flow file in it, ${KINDS}`);
  if (!FLOW_FILE_EXTENSIONS.includes(extname(path).toLowerCase())) throw new FlowLoadError(file, `is a ${extname(path) || 'file without an extension'}, not a flow file: give ${KINDS}`);
}

/** The flow's own name when it gives none: the file's base name, without `.machine` for a machine config. */
const defaultName = (path: string) => basename(path, extname(path)).replace(/\.machine$/i, '');

/**
 * Loads a flow file: a YAML or JSON flow, a machine config, or a module whose default export is
 * an Eventor or a Sequent, or a function (maybe async) that builds one. TypeScript files are
 * compiled on the fly. `overrides` reach every flow the file builds.
 */
export async function loadRunnable(file: string, overrides: FlowOverrides = {}): Promise<Runnable> {
  const path = resolve(file);
  checkFlowPath(file, path);
  const [{ setDefaultFlowName }, { setCommandLineOptions }] = await Promise.all([import('../dialects/eventor.js'), import('../actors/runtime.js')]);
  // A flow that gives no name is named after its file, and so is its default store folder.
  setDefaultFlowName(defaultName(path));
  const { defaults, ...flags } = overrides;
  setCommandLineOptions({ defaults, overrides: flags });
  if (isMachineConfig(path)) {
    const { loadMachineConfig } = await import('../dialects/machine-config.js');
    return loadMachineConfig(path);
  }
  if (DATA_EXTENSIONS.includes(extname(path).toLowerCase())) {
    const { loadFlow } = await import('../dialects/yaml-flow.js');
    return loadFlow(path);
  }
  const { isTypeScript } = await import('../executors/modules.js');
  if (isTypeScript(path)) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  let module: { default?: unknown };
  try {
    module = await import(pathToFileURL(path).href);
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    const { type, file: manifest } = packageType(path);
    if (ESM_AS_COMMONJS.test(`${(error as NodeJS.ErrnoException).code ?? ''} ${message}`) && /\.(ts|js)$/i.test(path) && type !== 'module') {
      const where = manifest ? `${manifest} has no "type": "module"` : `no package.json above it says "type": "module"`;
      throw new FlowLoadError(file, `is an ES module (it uses import or export), but Node reads it as CommonJS because ${where}: rename it to ${basename(path).replace(/\.(ts|js)$/i, (ext) => (ext.toLowerCase() === '.ts' ? '.mts' : '.mjs'))}, or add "type": "module" to ${manifest ?? 'a package.json beside it'}`, { cause: error });
    }
    throw new FlowLoadError(file, `could not be loaded: ${message}`, { cause: error });
  }
  let flow = module.default;
  if (typeof flow === 'function') flow = await (flow as () => unknown)();
  if (!isRunnable(flow)) {
    throw new FlowLoadError(file, 'has no default export to run: export default an Eventor or a Sequent, or a function that returns one');
  }
  return flow;
}
