import { EventorError } from '../model/errors.js';
import { flowGraph, type Graph } from '../observe/mermaid.js';
import type { FlowSpec } from '../model/spec.js';
import { loadRunnable } from './load-flow.js';

const dotId = (text: string) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Renders a graph in Graphviz DOT: events as ellipses, steps as boxes, groups as clusters. */
export function renderDot(graph: Graph, name = 'flow'): string {
  const lines = [`digraph ${dotId(name)} {`, '  rankdir=LR;', '  node [fontname="Helvetica"];'];
  const grouped = new Set(graph.groups.flatMap((group) => group.members));
  const groups = new Map(graph.groups.map((group) => [group.id, group]));
  const nodes = new Map(graph.nodes.map((node) => [node.id, node]));
  // An arrow to or from a group goes to an invisible anchor inside its cluster.
  const anchor = (id: string) => (groups.has(id) ? `${id}#anchor` : id);
  const draw = (id: string, indent: string) => {
    const node = nodes.get(id);
    if (node) lines.push(`${indent}${dotId(id)} [label=${dotId(node.label)}, shape=${node.shape === 'event' ? 'ellipse' : 'box'}${node.fill ? `, style=filled, fillcolor=${dotId(node.fill)}` : ''}];`);
    const group = groups.get(id);
    if (group) {
      lines.push(`${indent}subgraph ${dotId(`cluster_${id}`)} {`, `${indent}  label=${dotId(group.label)};`, `${indent}  ${dotId(anchor(id))} [shape=point, style=invis];`);
      for (const member of group.members) draw(member, `${indent}  `);
      lines.push(`${indent}}`);
    }
  };
  for (const node of graph.nodes) if (!grouped.has(node.id) && !groups.has(node.id)) draw(node.id, '  ');
  for (const group of graph.groups) if (!grouped.has(group.id)) draw(group.id, '  ');
  for (const edge of graph.edges) {
    const attributes = [edge.label ? `label=${dotId(edge.label)}` : '', groups.has(edge.from) ? `ltail=${dotId(`cluster_${edge.from}`)}` : '', groups.has(edge.to) ? `lhead=${dotId(`cluster_${edge.to}`)}` : ''].filter(Boolean);
    lines.push(`  ${dotId(anchor(edge.from))} -> ${dotId(anchor(edge.to))}${attributes.length ? ` [${attributes.join(', ')}]` : ''};`);
  }
  if (graph.groups.length > 0) lines.splice(2, 0, '  compound=true;');
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** Graphviz DOT as SVG, through Graphviz compiled to WebAssembly: no system Graphviz, no browser. */
export async function renderSvg(dot: string): Promise<string> {
  const { instance } = await import('@viz-js/viz');
  const viz = await instance();
  return viz.renderString(dot, { format: 'svg', engine: 'dot' });
}

/** `eventor graph FLOW --format mermaid|dot|svg|xstate`: the flow's graph on stdout; nothing runs. */
export async function graphCommand(file: string, options: { format: string }): Promise<void> {
  const flow = await loadRunnable(file);
  try {
    if (options.format === 'mermaid') {
      if (!flow.toMermaid) throw new EventorError(`flow file ${file} makes a flow without toMermaid(): give an Eventor or a Sequent`);
      process.stdout.write(flow.toMermaid());
      return;
    }
    if (!flow.toSpec) throw new EventorError(`flow file ${file} makes a flow without toSpec(): give an Eventor or a Sequent`);
    const spec: FlowSpec = flow.toSpec();
    if (options.format === 'xstate') {
      const { toXStateConfig } = await import('../observe/xstate-config.js');
      process.stdout.write(`${JSON.stringify(toXStateConfig(spec), null, 2)}\n`);
      return;
    }
    // The graph the user wrote (a Sequent's containers, not the events it compiles to).
    const graph = flow.toGraph ? flow.toGraph() : flowGraph(spec);
    const dot = renderDot(graph, spec.name ?? flow.name ?? 'flow');
    process.stdout.write(options.format === 'svg' ? await renderSvg(dot) : dot);
  } finally {
    await flow.close();
  }
}
