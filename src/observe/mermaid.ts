import type { FlowSpec } from '../model/spec.js';
import { exprEvents } from '../model/expr.js';

/** A graph to draw: nodes, arrows between them, and nested groups (subgraphs). */
export interface Graph {
  /** `fill`: a colour the node is drawn in (a job's outcome, for instance). */
  nodes: { id: string; label: string; shape: 'step' | 'event'; fill?: string }[];
  edges: { from: string; to: string; label?: string }[];
  /** Groups with the ids of the nodes and groups directly inside them. */
  groups: { id: string; label: string; members: string[] }[];
}

/** The id a node has in the Mermaid text, for `class` and `style` lines that refer to it. */
export const mermaidId = (id: string) => `n_${id.replace(/[^A-Za-z0-9_]/g, (char) => `_${char.charCodeAt(0).toString(16)}_`)}`;
const quote = (text: string) => `"${text.replace(/"/g, '#quot;')}"`;

/** Renders a graph as a Mermaid flowchart, left to right. */
export function renderMermaid(graph: Graph): string {
  const lines = ['flowchart LR'];
  const grouped = new Set(graph.groups.flatMap((group) => group.members));
  const groups = new Map(graph.groups.map((group) => [group.id, group]));
  const nodes = new Map(graph.nodes.map((node) => [node.id, node]));
  const drawNode = (id: string, indent: string) => {
    const node = nodes.get(id);
    if (node) lines.push(`${indent}${mermaidId(id)}${node.shape === 'event' ? `([${quote(node.label)}])` : `[${quote(node.label)}]`}`);
    const group = groups.get(id);
    if (group) {
      lines.push(`${indent}subgraph ${mermaidId(id)}_group [${quote(group.label)}]`);
      for (const member of group.members) drawNode(member, `${indent}  `);
      lines.push(`${indent}end`);
    }
  };
  for (const node of graph.nodes) if (!grouped.has(node.id) && !groups.has(node.id)) drawNode(node.id, '  ');
  for (const group of graph.groups) if (!grouped.has(group.id)) drawNode(group.id, '  ');
  const target = (id: string) => (groups.has(id) ? `${mermaidId(id)}_group` : mermaidId(id));
  for (const edge of graph.edges) lines.push(`  ${target(edge.from)} -->${edge.label ? `|${edge.label}|` : ''} ${target(edge.to)}`);
  return `${lines.join('\n')}\n`;
}

/** The graph of an Eventor flow: events and steps, associations, triggers and expressions. */
export function flowGraph(spec: FlowSpec): Graph {
  const event = (name: string) => `event:${name}`;
  const step = (name: string) => `step:${name}`;
  const graph: Graph = { nodes: [], edges: [], groups: [] };
  for (const item of spec.events) {
    graph.nodes.push({ id: event(item.name), label: item.name, shape: 'event' });
    if (item.expr !== undefined) for (const source of exprEvents(item.expr)) graph.edges.push({ from: event(source), to: event(item.name), label: typeof item.expr === 'string' ? undefined : item.expr.op });
  }
  for (const item of spec.steps) {
    graph.nodes.push({ id: step(item.name), label: item.name, shape: 'step' });
    for (const [status, events] of Object.entries(item.triggers)) for (const name of events ?? []) graph.edges.push({ from: step(item.name), to: event(name), label: status });
  }
  for (const assoc of spec.assocs) {
    for (const targetSpec of assoc.targets) {
      graph.edges.push({ from: event(assoc.event), to: targetSpec.kind === 'step' ? step(targetSpec.name) : event(targetSpec.name), label: assoc.delay > 0 ? `after ${assoc.delay} s` : undefined });
    }
  }
  return graph;
}
