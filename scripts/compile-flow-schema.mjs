// Compiles schema/flow.schema.json into the validators yaml-flow.ts imports, once at build time:
// compiling it at every start cost a YAML flow more than the rest of its start-up.
import { readFileSync, writeFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';

const root = new URL('..', import.meta.url);
const schema = JSON.parse(readFileSync(new URL('schema/flow.schema.json', root), 'utf8'));
const ajv = new Ajv({ allErrors: false, strict: false, code: { source: true, esm: true } });
ajv.addSchema(schema, 'flow');
const code = standaloneCode.default(ajv, { eventor: 'flow#/$defs/eventorFlow', sequent: 'flow#/$defs/sequentFlow' });
// Ajv's standalone ES module still requires its runtime helpers: make them imports, which an ES module can hold.
const imports = [];
const esm = code.replace(/require\("(ajv\/dist\/runtime\/[\w-]+)"\)(\.default)?/g, (_, path) => {
  const name = `runtime${imports.length}`;
  imports.push(`import ${name}Module from '${path}.js';\nconst ${name} = ${name}Module.default ?? ${name}Module;\n`);
  return name;
});
if (/\brequire\(/.test(esm)) throw new Error('the compiled flow schema still requires a module: teach compile-flow-schema.mjs to import it');
const header = '// @ts-nocheck\n// Made by scripts/compile-flow-schema.mjs from schema/flow.schema.json when the package builds: do not edit.\n';
writeFileSync(new URL('src/dialects/flow-validators.generated.ts', root), header + imports.join('') + esm.replace(/^"use strict";/, ''));
