// Summarises a .cpuprofile (node --cpu-prof): the top functions by self time and by inclusive
// time, and self time by file or package; percentages are of the busy (not idle) samples.
// Usage: node bench/profile-top.mjs FILE.cpuprofile [N] [--from=SECONDS] [--under=FUNCTION-LABEL-PREFIX]
import { readFileSync } from 'node:fs';

const [file, n = '25'] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const short = (url) => url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, 'nm:').replace(/.*\/work\/main\//, '');
const label = (node) => {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${url ? `${short(url)}:${lineNumber + 1}` : ''}`.trim();
};
// Sample counts weighted by the time deltas.
const self = new Map();
let total = 0;
const deltas = profile.timeDeltas;
let idle = 0;
// --from=S: only the samples S seconds or more after the profile began (leave out start-up and warm-up).
const from = Number(process.argv.find((a) => a.startsWith('--from='))?.slice('--from='.length) ?? 0) * 1e6;
let clock = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  clock += deltas[i] ?? 0;
  if (clock < from) continue;
  const dt = deltas[i + 1] ?? 0;
  total += dt;
  const node = nodes.get(id);
  if (node.callFrame.functionName === '(idle)') idle += dt;
  self.set(id, (self.get(id) ?? 0) + dt);
}
const busy = total - idle;
const selfBy = new Map();
const inclBy = new Map();
const fileBy = new Map();
for (const [id, dt] of self) {
  const node = nodes.get(id);
  if (node.callFrame.functionName === '(idle)') continue;
  const key = label(node);
  selfBy.set(key, (selfBy.get(key) ?? 0) + dt);
  const f = node.callFrame.url ? short(node.callFrame.url).replace(/^nm:(@[^/]+\/[^/]+|[^/]+)\/.*/, '$1') : node.callFrame.functionName;
  fileBy.set(f, (fileBy.get(f) ?? 0) + dt);
  // inclusive: every distinct function label on the stack
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const k = label(nodes.get(cur));
    if (seen.has(k)) continue;
    seen.add(k);
    inclBy.set(k, (inclBy.get(k) ?? 0) + dt);
  }
}
const pct = (v) => `${((100 * v) / busy).toFixed(1).padStart(5)}%`;
const top = (map, count) => [...map].sort((a, b) => b[1] - a[1]).slice(0, count);
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages of busy time)`);
console.log('\n-- self time by function');
for (const [k, v] of top(selfBy, Number(n))) console.log(`${pct(v)}  ${k}`);
console.log('\n-- self time by file / package');
for (const [k, v] of top(fileBy, 20)) console.log(`${pct(v)}  ${k}`);
console.log('\n-- inclusive time by function');
for (const [k, v] of top(inclBy, Number(n) + 15)) console.log(`${pct(v)}  ${k}`);

// --under=NAME: the call tree below every function whose label starts with NAME, merged, 4 levels deep.
const under = process.argv.find((a) => a.startsWith('--under='))?.slice('--under='.length);
if (under) {
  const inclusive = new Map();
  const visit = (id) => {
    const node = nodes.get(id);
    let sum = node.callFrame.functionName === '(idle)' ? 0 : self.get(id) ?? 0;
    for (const child of node.children ?? []) sum += visit(child);
    inclusive.set(id, sum);
    return sum;
  };
  visit(profile.nodes[0].id);
  const merged = { time: 0, children: new Map() };
  const merge = (id, into, depth) => {
    into.time += inclusive.get(id);
    if (depth === 0) return;
    for (const child of nodes.get(id).children ?? []) {
      const key = label(nodes.get(child));
      if (!into.children.has(key)) into.children.set(key, { time: 0, children: new Map() });
      merge(child, into.children.get(key), depth - 1);
    }
  };
  const roots = (id, inside) => {
    const match = label(nodes.get(id)).startsWith(under);
    if (match && !inside) merge(id, merged, 4);
    for (const child of nodes.get(id).children ?? []) roots(child, inside || match);
  };
  roots(profile.nodes[0].id, false);
  console.log(`\n-- below ${under}: ${pct(merged.time)} inclusive`);
  const print = (tree, indent) => {
    for (const [key, sub] of [...tree.children].sort((a, b) => b[1].time - a[1].time)) {
      if (sub.time / busy < 0.003) continue;
      console.log(`${pct(sub.time)}  ${indent}${key}`);
      print(sub, `${indent}  `);
    }
  };
  print(merged, '');
}
