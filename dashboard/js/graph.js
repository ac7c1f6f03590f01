// A workflow drawn as a directed graph in SVG, by hand (no library).
//
// The layout is layered: the workflow's inputs form the first column, and each
// step sits one column to the right of the rightmost node it takes a value
// from (an input or another step's output), so every edge points right. On a
// phone's width the same layers are drawn as rows, top to bottom (mountGraph
// switches when the screen crosses 640 px), so a graph two steps wide fits the
// screen instead of scrolling sideways. Within
// a column the nodes keep the order the API gives (its steps come after the
// steps they depend on). Edges are cubic Bezier paths from the right side of a
// source to the left side of its target, one per (source, target) pair, titled
// with the tool inputs they feed.
//
// Step nodes may carry a state (an invocation's view): the node's class is
// `st-STATE`, its second line reads the state in words, and the legend
// (stateLegend) pairs each colour with its name, so colour is never the only
// signal. A step with a job is a link to the job's page. drawGraph returns an
// update(states) function that recolours the nodes in place for live updates.
// The picture is paired with a text alternative (the list of steps and states)
// by the pages that use it.

const SVG_NS = "http://www.w3.org/2000/svg";
const NODE_W = 156;
const NODE_W_NARROW = 136;  // top-down layout, for phones: two nodes side by side fit in 320 px
const NODE_H = 50;
const COL_GAP = 64;
const ROW_GAP = 22;
const LAYER_GAP_DOWN = 40;
const SIDE_GAP_DOWN = 14;
/** Below this width of the screen, graphs are drawn top-down (layers as rows) rather than left to right. */
export const NARROW_QUERY = "(max-width: 640px)";
const PAD = 12;

/** The step states of an invocation, in the order the legend shows them, with their words. */
export const STEP_STATES = [
  ["waiting", "waiting"],
  ["running", "running"],
  ["ok", "ok"],
  ["failed", "failed"],
  ["not_run", "not run"],
  ["cancelled", "cancelled"],
];

let graphCount = 0;

function el(name, attrs, text) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function clip(text, max) {
  return text.length > max ? text.slice(0, max - 1) + "\u2026" : text;
}

/** The sources a step takes values from: [{kind: "input"|"step", ref, into}] (literals are left out). */
export function stepSources(step) {
  const out = [];
  for (const [into, src] of Object.entries(step.inputs || {})) {
    if (src && typeof src === "object" && !Array.isArray(src)) {
      if (typeof src.input === "string") out.push({ kind: "input", ref: src.input, into });
      else if (typeof src.step === "string") out.push({ kind: "step", ref: src.step, into, output: src.output });
    }
  }
  return out;
}

/**
 * Compute the layered layout of a workflow ({inputs, steps} as GET /api/workflows/{id} gives it).
 * down: layers top to bottom (phones) instead of left to right.
 * Returns {nodes: [{key, kind, id, tool, col, row, x, y}], edges: [{from, to, label}], width, height, nodeW, down}.
 * Node keys are "in:NAME" for inputs and "step:ID" for steps.
 */
export function layoutWorkflow(wf, down = false) {
  const inputs = wf.inputs || [];
  const steps = wf.steps || [];
  const col = new Map();
  const nodes = [];
  for (const inp of inputs) {
    const key = "in:" + inp.name;
    col.set(key, 0);
    nodes.push({ key, kind: "input", id: inp.name, tool: inp.type || "" });
  }
  const edgeMap = new Map();
  for (const step of steps) {
    const key = "step:" + step.id;
    let c = inputs.length ? 1 : 0;
    for (const s of stepSources(step)) {
      const from = (s.kind === "input" ? "in:" : "step:") + s.ref;
      // A source the API did not list (it should not happen) still gets a column: the first one.
      const fc = col.has(from) ? col.get(from) : 0;
      c = Math.max(c, fc + 1);
      const ek = from + "\u0000" + key;
      const label = s.kind === "step" ? `${s.ref}.${s.output} \u2192 ${step.id}.${s.into}` : `${s.ref} \u2192 ${step.id}.${s.into}`;
      if (edgeMap.has(ek)) edgeMap.get(ek).label += ", " + label;
      else edgeMap.set(ek, { from, to: key, label });
    }
    col.set(key, c);
    nodes.push({ key, kind: "step", id: step.id, tool: step.tool || "" });
  }
  const rowsIn = [];
  for (const n of nodes) {
    n.col = col.get(n.key);
    rowsIn[n.col] = (rowsIn[n.col] || 0);
    n.row = rowsIn[n.col]++;
  }
  const nRows = Math.max(1, ...rowsIn.filter((x) => x !== undefined));
  const nCols = Math.max(1, rowsIn.length);
  const nodeW = down ? NODE_W_NARROW : NODE_W;
  let width, height;
  if (down) {
    // Each layer a row, centred across the widest one.
    width = PAD * 2 + nRows * nodeW + (nRows - 1) * SIDE_GAP_DOWN;
    height = PAD * 2 + nCols * NODE_H + (nCols - 1) * LAYER_GAP_DOWN;
    for (const n of nodes) {
      const inCol = rowsIn[n.col];
      const rowW = inCol * nodeW + (inCol - 1) * SIDE_GAP_DOWN;
      n.x = (width - rowW) / 2 + n.row * (nodeW + SIDE_GAP_DOWN);
      n.y = PAD + n.col * (NODE_H + LAYER_GAP_DOWN);
    }
  } else {
    height = PAD * 2 + nRows * NODE_H + (nRows - 1) * ROW_GAP;
    width = PAD * 2 + nCols * nodeW + (nCols - 1) * COL_GAP;
    for (const n of nodes) {
      // Centre each column vertically, so a lone step sits level with the middle of a wide one.
      const inCol = rowsIn[n.col];
      const colH = inCol * NODE_H + (inCol - 1) * ROW_GAP;
      n.x = PAD + n.col * (nodeW + COL_GAP);
      n.y = (height - colH) / 2 + n.row * (NODE_H + ROW_GAP);
    }
  }
  const keys = new Set(nodes.map((n) => n.key));
  const edges = [...edgeMap.values()].filter((e) => keys.has(e.from));
  return { nodes, edges, width, height, nodeW, down };
}

/**
 * Draw a workflow as an SVG element.
 * opts.states: {stepId: {state, job_id}} to colour steps (an invocation); without it steps are drawn plain.
 * opts.title: the accessible name of the picture; opts.down: draw the layers top to bottom.
 * Returns {svg, update(states)}; update recolours and relinks the steps in place.
 */
export function drawGraph(wf, opts = {}) {
  const lay = layoutWorkflow(wf, !!opts.down);
  const W = lay.nodeW;
  const uid = "g" + (++graphCount);
  const svg = el("svg", {
    class: "wf-graph", viewBox: `0 0 ${lay.width} ${lay.height}`,
    width: lay.width, height: lay.height, role: "group",
    "aria-label": opts.title || `Graph of workflow ${wf.id}`, "data-workflow": wf.id,
    "data-layout": lay.down ? "down" : "right",
  });
  const defs = el("defs");
  const marker = el("marker", {
    id: uid + "-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
    orient: "auto-start-reverse",
  });
  marker.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", class: "wf-arrow" }));
  defs.appendChild(marker);
  svg.appendChild(defs);

  const byKey = new Map(lay.nodes.map((n) => [n.key, n]));
  const edgeGroup = el("g", { class: "wf-edges" });
  for (const e of lay.edges) {
    const a = byKey.get(e.from);
    const b = byKey.get(e.to);
    let d;
    if (lay.down) {
      const x1 = a.x + W / 2, y1 = a.y + NODE_H;
      const x2 = b.x + W / 2, y2 = b.y - 2;
      const dy = Math.max(16, (y2 - y1) / 2);
      d = `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2}`;
    } else {
      const x1 = a.x + W, y1 = a.y + NODE_H / 2;
      const x2 = b.x - 2, y2 = b.y + NODE_H / 2;
      const dx = Math.max(24, (x2 - x1) / 2);
      d = `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
    }
    const p = el("path", {
      class: "wf-edge", d, "marker-end": `url(#${uid}-arrow)`, "data-from": e.from, "data-to": e.to,
    });
    p.appendChild(el("title", {}, e.label));
    edgeGroup.appendChild(p);
  }
  svg.appendChild(edgeGroup);

  const nodeGroup = el("g", { class: "wf-nodes" });
  const stepNodes = new Map();
  for (const n of lay.nodes) {
    const g = el("g", {
      class: n.kind === "input" ? "wf-node wf-input" : "wf-node wf-step",
      transform: `translate(${n.x},${n.y})`, "data-key": n.key,
    });
    g.appendChild(el("rect", { width: W, height: NODE_H, rx: n.kind === "input" ? 22 : 6 }));
    const line1 = n.kind === "input" ? `input ${n.id}` : `${n.id} \u00b7 ${n.tool}`;
    g.appendChild(el("text", { x: 10, y: 20, class: "wf-l1" }, clip(line1, lay.down ? 17 : 20)));
    const t2 = el("text", { x: 10, y: 38, class: "wf-l2" }, n.kind === "input" ? clip(n.tool, lay.down ? 19 : 22) : "step");
    g.appendChild(t2);
    const t = el("title", {}, n.kind === "input" ? `workflow input ${n.id} (${n.tool})` : `step ${n.id}: tool ${n.tool}`);
    g.appendChild(t);
    if (n.kind === "step") {
      // Each step sits in a slot so that update() can wrap it in a link once it has a job.
      const slot = el("g", { class: "wf-slot", "data-step": n.id });
      slot.appendChild(g);
      nodeGroup.appendChild(slot);
      stepNodes.set(n.id, { slot, g, t2, title: t, node: n });
    } else {
      nodeGroup.appendChild(g);
    }
  }
  svg.appendChild(nodeGroup);

  function update(states) {
    for (const [id, s] of stepNodes) {
      const st = states && states[id];
      const state = st ? st.state : null;
      s.g.setAttribute("class", "wf-node wf-step" + (state ? " st-" + state : ""));
      if (state) s.g.setAttribute("data-state", state);
      else s.g.removeAttribute("data-state");
      const words = state ? (STEP_STATES.find((x) => x[0] === state) || [state, state])[1] : "step";
      s.t2.textContent = st && st.job_id ? `${words} \u00b7 job ${st.job_id}` : words;
      s.title.textContent = `step ${id}: tool ${s.node.tool}` + (state ? `, ${words}` : "") +
        (st && st.job_id ? `, job ${st.job_id}` : "");
      const href = st && st.job_id ? `#/jobs/${encodeURIComponent(st.job_id)}` : null;
      const link = s.slot.firstChild !== s.g ? s.slot.firstChild : null;
      if (href && !link) {
        const a = el("a", { href, class: "wf-link", "aria-label": `step ${id}, ${words}, job ${st.job_id}` });
        s.slot.replaceChild(a, s.g);
        a.appendChild(s.g);
      } else if (href && link) {
        link.setAttribute("href", href);
        link.setAttribute("aria-label", `step ${id}, ${words}, job ${st.job_id}`);
      } else if (!href && link) {
        s.slot.replaceChild(s.g, link);
      }
    }
  }
  if (opts.states) update(opts.states);
  return { svg, update };
}

/**
 * Draw a workflow into container (emptied first), top-down on narrow screens (NARROW_QUERY) and left to right
 * otherwise, drawn again when the screen crosses that width. opts as drawGraph's.
 * Returns {svg(), update(states)}: the SVG shown now, and the live recolouring (kept across redraws).
 * The listener ends by itself once container has left the document.
 */
export function mountGraph(container, wf, opts = {}) {
  const mq = window.matchMedia(NARROW_QUERY);
  let states = opts.states || null;
  let g = null;
  function draw() {
    g = drawGraph(wf, { ...opts, states, down: mq.matches });
    container.replaceChildren(g.svg);
  }
  function onChange() {
    if (!container.isConnected) { mq.removeEventListener("change", onChange); return; }
    draw();
  }
  mq.addEventListener("change", onChange);
  draw();
  return {
    svg: () => g.svg,
    update(s) { states = s; g.update(s); },
  };
}

/** A legend of the step states: a swatch and the state's name for each (an HTML list). */
export function stateLegend() {
  const ul = document.createElement("ul");
  ul.className = "legend wf-legend";
  ul.setAttribute("aria-label", "Step states");
  for (const [state, words] of STEP_STATES) {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "wf-swatch st-" + state;
    sw.setAttribute("aria-hidden", "true");
    li.appendChild(sw);
    li.appendChild(document.createTextNode(words));
    ul.appendChild(li);
  }
  return ul;
}

let stylesAdded = false;

/** Add the stylesheet of the workflow pages (forms, graph, states) to the document once. */
export function ensureStyles() {
  // index.html links it; this is for a shell that does not.
  if (stylesAdded || [...document.querySelectorAll("link[rel=stylesheet]")].some((l) => /\/workflows\.css$/.test(l.href))) return;
  stylesAdded = true;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("../workflows.css", import.meta.url).href;
  link.setAttribute("data-wf-styles", "");
  document.head.appendChild(link);
}

/** Replace root's children with kids (nested arrays flattened; null, undefined and false left out). */
export function fill(root, ...kids) {
  root.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
}
