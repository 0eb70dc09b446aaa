// flow ui: draws each page from the data the server put in it, then keeps it live.
// Plain ES module, no build step; charts by the vendored uPlot (static/vendor).

const TOKEN = document.querySelector('meta[name="flow-token"]').content;
const DATA = JSON.parse(document.getElementById("data").textContent);
const app = document.getElementById("app");
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c",
                "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];

// -- small helpers -------------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function api(path) {
  const answer = await fetch(path, { headers: { "X-Flow-Token": TOKEN } });
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error || answer.statusText);
  return body;
}

async function post(path) {
  const answer = await fetch(path, { method: "POST", headers: { "X-Flow-Token": TOKEN } });
  const body = await answer.json().catch(() => ({ error: answer.statusText }));
  if (!answer.ok) throw new Error([body.error, ...(body.suggestions || [])].join("\n"));
  return body;
}

const badge = (status) => h("span", { class: `status ${status}`, "data-status": status }, status);
function num(v) {  // 4 significant digits, trailing zeros of a fraction dropped
  if (v === null || v === undefined) return "—";
  const text = Number(v).toPrecision(4);
  return text.includes(".") && !text.includes("e") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}
const seconds = (s) => (s >= 3600 ? `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
  : s >= 60 ? `${Math.floor(s / 60)}m ${Math.round(s % 60)}s` : `${Math.round(s)}s`);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const taskLink = (t) => h("a", { href: `/tasks/${t.task_id}` }, t.name);

function problem(data) {
  return h("div", { class: "problem" }, h("strong", {}, data.error),
    ...(data.suggestions || []).map((s) => h("div", { class: "hint" }, s)));
}

function flash(message, kind = "problem") {
  const box = h("div", { class: kind, role: "alert" }, message);
  app.prepend(box);
  setTimeout(() => box.remove(), 8000);
}

function table(headers, rows, attrs = {}) {
  return h("table", attrs, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows));
}

// -- charts --------------------------------------------------------------------------------------
// One chart: x is the step, one series per run; `data` is uPlot's [steps, ...values].
function chart(container, title, labels, data) {
  const width = Math.max(320, Math.min(container.clientWidth || 560, 720));
  const opts = {
    title, width, height: 220,
    scales: { x: { time: false } },
    series: [{ label: "step" }, ...labels.map((label, i) => ({
      label, stroke: COLORS[i % COLORS.length], width: 2, spanGaps: true,
    }))],
    axes: [{ label: "step" }, {}],
  };
  return new uPlot(opts, data, container);
}

// Runs' (step, value) points on one step axis, gaps as null, for one chart.
function align(seriesList) {
  const steps = [...new Set(seriesList.flatMap((s) => s.map(([step]) => step)))].sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const columns = seriesList.map((s) => {
    const column = new Array(steps.length).fill(null);
    for (const [step, value] of s) column[index.get(step)] = Number.isFinite(value) ? value : null;
    return column;
  });
  return [steps, ...columns];
}

// -- Tasks ---------------------------------------------------------------------------------------
function tasksPage(data) {
  const selected = new Set();
  const state = { ...data.filters, page: data.page };
  const status = h("select", { name: "status", "aria-label": "status" },
    h("option", { value: "" }, "any status"),
    data.statuses.map((s) => h("option", { value: s, selected: s === state.status }, s)));
  const provider = h("select", { name: "provider", "aria-label": "provider" },
    h("option", { value: "" }, "any provider"),
    data.providers.map((p) => h("option", { value: p, selected: p === state.provider }, p)));
  const name = h("input", { name: "name", placeholder: "task name", value: state.name, "aria-label": "name" });
  const compare = h("button", { type: "button", id: "compare", disabled: true, onclick: () => {
    location.href = `/compare?tasks=${[...selected].join(",")}`;
  } }, "Compare selected");
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    Object.assign(state, { status: status.value, provider: provider.value, name: name.value.trim(), page: 1 });
    refresh();
  } }, status, provider, name, h("button", { type: "submit" }, "Filter"), compare);
  const body = h("tbody", { id: "tasks" });
  const pager = h("div", { class: "pager" });
  const unanswered = h("div", { class: "hint", id: "unanswered" });
  app.replaceChildren(h("h1", {}, "Tasks"), form, unanswered,
    h("table", { class: "tasks" }, h("thead", {}, h("tr", {},
      ["", "name", "id", "status", "provider", "instance type", "age", "duration", "cost", "exit / message"]
        .map((x) => h("th", {}, x)))), body), pager);

  function draw(view) {
    unanswered.replaceChildren(...Object.entries(view.unanswered || {}).map(([p, why]) =>
      h("div", {}, `${p} could not be asked (${why}); its tasks show their last known state`)));
    body.replaceChildren(...view.tasks.map((t) => h("tr", { "data-task": t.task_id },
      h("td", {}, h("input", { type: "checkbox", "aria-label": `select ${t.name}`, checked: selected.has(t.task_id),
        onchange: (e) => {
          e.target.checked ? selected.add(t.task_id) : selected.delete(t.task_id);
          compare.disabled = selected.size < 2 || selected.size > 10;
        } })),
      h("td", {}, taskLink(t)), h("td", { class: "mono" }, t.task_id), h("td", {}, badge(t.status)),
      h("td", {}, t.provider), h("td", {}, t.instance_type), h("td", {}, t.age), h("td", {}, t.duration),
      h("td", {}, t.cost), h("td", { class: "message" }, [t.exit_code ?? "", t.message ?? ""].join(" ").trim() || "—"))));
    if (!view.tasks.length) body.append(h("tr", {}, h("td", { colspan: 10, class: "empty" },
      view.total ? "no tasks on this page" : 'no tasks match; try: flow run "echo hello"')));
    const go = (page) => () => { state.page = page; refresh(); };
    pager.replaceChildren(
      h("button", { type: "button", disabled: view.page <= 1, onclick: go(view.page - 1) }, "← newer"),
      h("span", { id: "page-info" }, ` page ${view.page} of ${view.pages} (${view.total} tasks) `),
      h("button", { type: "button", disabled: view.page >= view.pages, onclick: go(view.page + 1) }, "older →"));
  }

  function query() {
    const q = new URLSearchParams();
    for (const key of ["status", "provider", "name"]) if (state[key]) q.set(key, state[key]);
    if (state.page > 1) q.set("page", state.page);
    return q.toString();
  }

  async function refresh() {
    const q = query();
    history.replaceState(null, "", q ? `/?${q}` : "/");
    try { draw(await api(`/api/tasks?${q}`)); } catch (e) { flash(e.message); }
  }

  draw(data);
  setInterval(() => { if (!document.hidden) refresh(); }, 2000);
}

// -- Task ----------------------------------------------------------------------------------------
function taskPage(data) {
  const t = data.task;
  const status = h("span", { id: "status" }, badge(t.status));
  const buttons = h("div", { class: "actions" });
  const details = h("dl", { class: "details" });
  const charts = h("div", { class: "charts", id: "charts" });
  const log = h("pre", { class: "log", id: "log" });
  const follow = h("input", { type: "checkbox", checked: true, id: "follow" });
  const checkpoints = h("tbody", { id: "checkpoints" });
  app.replaceChildren(
    h("h1", {}, t.name, " ", status), h("div", { class: "mono sub" }, t.task_id), buttons, details,
    h("h2", {}, "Metrics"), charts,
    h("h2", {}, "Log ", h("label", { class: "small" }, follow, " follow")), log,
    h("h2", {}, "Checkpoints"), table(["step", "path", "time"], [checkpoints]),
    h("h2", {}, "Artifacts"), artifacts(data.artifacts, t.task_id),
    h("h2", {}, "Plan and price"), plan(data.plan, t),
    h("h2", {}, "Config"), h("pre", { class: "config", id: "config" }, JSON.stringify(data.config, null, 2)));
  if (data.log_error) log.before(h("div", { class: "hint" }, data.log_error));

  function drawDetails(task) {
    const rows = [["provider", task.provider], ["instance type", task.instance_type], ["region", task.region],
      ["created", when(task.created_at)], ["started", when(task.started_at)], ["ended", when(task.completed_at)],
      ["duration", task.duration], ["exit code", task.exit_code ?? "—"], ["message", task.message || "—"],
      ["provider state", task.provider_state || "—"], ["workload", task.workload || "—"]];
    if (task.resumed_from) rows.push(["resumed from", h("a", { href: `/tasks/${task.resumed_from}` }, task.resumed_from)]);
    details.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
  }

  let canResume = data.can_resume;
  function drawButtons(task) {
    const act = (action, label, confirmText) => h("button", { type: "button", id: action, onclick: async (e) => {
      if (confirmText && !confirm(confirmText)) return;
      e.target.disabled = true;
      try {
        const done = await post(`/api/tasks/${task.task_id}/${action}`);
        if (action === "cancel") { status.replaceChildren(badge(done.task.status)); }
        else location.href = `/tasks/${done.task.task_id}`;
      } catch (err) { flash(err.message); e.target.disabled = false; }
    } }, label);
    buttons.replaceChildren(...[
      task.terminal ? null : act("cancel", "Cancel", `Cancel ${task.name} (${task.task_id})?`),
      task.terminal && canResume ? act("resume", "Resume from latest checkpoint") : null,
      act("rerun", "Run again")].filter(Boolean));
  }

  // Live charts: one per metric, fed by the stream.
  const series = new Map();  // name -> {steps, values, plot, caption}
  function addPoint(name, step, value) {
    let s = series.get(name);
    if (!s) {
      const box = h("div", { class: "chart", "data-metric": name });
      const caption = h("div", { class: "caption" });
      charts.append(h("figure", {}, box, caption));
      s = { steps: [], values: [], box, caption, plot: null };
      series.set(name, s);
    }
    s.steps.push(step); s.values.push(Number.isFinite(value) ? value : null);
    s.dirty = true;
  }
  function drawCharts() {
    for (const [name, s] of series) {
      if (!s.dirty) continue;
      s.dirty = false;
      if (!s.plot) s.plot = chart(s.box, name, [name], [s.steps, s.values]);
      else s.plot.setData([s.steps, s.values]);
      s.caption.textContent = `${name}: ${s.steps.length} points, last ${num(s.values.at(-1))} at step ${s.steps.at(-1)}`;
      s.caption.dataset.points = s.steps.length;
    }
    if (!series.size) charts.replaceChildren(h("div", { class: "empty", id: "no-metrics" },
      'no metrics yet: the workload prints {"__flow__": {"loss": 0.5, "step": 1}} lines, or calls flowlib.log_metrics(loss=0.5, step=1)'));
    else charts.querySelector("#no-metrics")?.remove();
  }
  const addRow = (row) => { for (const [k, v] of Object.entries(row.values)) addPoint(k, row.step, v); };
  const addCheckpoint = (c) => checkpoints.append(h("tr", {}, h("td", {}, c.step ?? "—"),
    h("td", { class: "mono" }, c.path), h("td", {}, c.time ? when(new Date(c.time * 1000).toISOString()) : "—")));
  const addLine = (line) => {
    log.append(line + "\n");
    if (follow.checked) log.scrollTop = log.scrollHeight;
  };

  data.metrics.forEach(addRow);
  data.checkpoints.forEach(addCheckpoint);
  if (!data.checkpoints.length) checkpoints.append(h("tr", { class: "none" }, h("td", { colspan: 3 }, "—")));
  log.textContent = data.log.length ? data.log.join("\n") + "\n" : "";
  drawDetails(t); drawButtons(t); drawCharts();
  log.scrollTop = log.scrollHeight;

  const stream = new EventSource(`/api/tasks/${t.task_id}/events?from=${data.log_lines}`);
  stream.addEventListener("log", (e) => addLine(JSON.parse(e.data)));
  stream.addEventListener("metric", (e) => { addRow(JSON.parse(e.data)); });
  stream.addEventListener("checkpoint", (e) => {
    checkpoints.querySelector(".none")?.remove(); addCheckpoint(JSON.parse(e.data)); canResume = true;
  });
  stream.addEventListener("problem", (e) => flash(JSON.parse(e.data).error));
  stream.addEventListener("end", (e) => {
    const task = JSON.parse(e.data);
    stream.close();
    refreshTask();
  });
  setInterval(drawCharts, 100);  // at most ten redraws a second, however fast points come

  async function refreshTask() {
    try {
      const { task } = await api(`/api/tasks/${t.task_id}?brief=1`);
      status.replaceChildren(badge(task.status));
      drawDetails(task); drawButtons(task);
      return task;
    } catch (e) { flash(e.message); }
  }
  const poll = setInterval(async () => {
    const task = await refreshTask();
    if (task && task.terminal) clearInterval(poll);
  }, 3000);
}

function artifacts(list, taskId) {
  if (!list.length) return h("div", { class: "empty" }, "—");
  const href = (a) => `/api/tasks/${encodeURIComponent(taskId)}/artifacts/${a.name.split("/").map(encodeURIComponent).join("/")}`;
  return table(["kind", "name", "size", "where"], [h("tbody", {}, list.map((a) => h("tr", {},
    h("td", {}, a.kind || ""), h("td", {}, h("a", { href: href(a), download: a.name.split("/").pop() }, a.name)),
    h("td", {}, a.size === null || a.size === undefined ? "—" : `${a.size} bytes`),
    h("td", { class: "mono" }, a.where || ""))))]);
}

function plan(pairs, task) {
  const rows = [["price per hour", task.price_per_hour], ["cost so far", task.cost], ...(pairs || [])];
  return h("dl", { class: "details" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

// -- Compare -------------------------------------------------------------------------------------
function comparePage(data) {
  const picker = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault(); location.href = `/compare?tasks=${encodeURIComponent(field.value.replace(/\s+/g, ""))}`;
  } });
  const field = h("input", { name: "tasks", size: 60, placeholder: "task ids or names, comma separated",
    value: new URLSearchParams(location.search).get("tasks") || "" });
  picker.append(field, h("button", { type: "submit" }, "Compare"));
  if (data.error) { app.replaceChildren(h("h1", {}, "Compare"), problem(data), picker); return; }
  const ids = data.tasks.map((t) => t.task_id);
  const label = (id) => { const t = data.tasks.find((x) => x.task_id === id); return `${t.name} (${id})`; };
  const charts = h("div", { class: "charts" });
  app.replaceChildren(h("h1", {}, "Compare"), picker,
    table(["", "task", "status", "provider", "duration"], data.tasks.map((t, i) => h("tr", {},
      h("td", {}, h("span", { class: "swatch", style: `background:${COLORS[i]}` })), h("td", {}, taskLink(t), " ",
        h("span", { class: "mono" }, t.task_id)), h("td", {}, badge(t.status)), h("td", {}, t.provider), h("td", {}, t.duration)))),
    h("h2", {}, "Metrics"), charts);
  if (!data.metrics.length) charts.append(h("div", { class: "empty" }, "none of these tasks logged metrics"));
  for (const m of data.metrics) {
    const box = h("div", { class: "chart", "data-metric": m.name });
    const rows = ids.map((id, i) => {
      const s = m.summary[id];
      return h("tr", { "data-task": id }, h("td", {}, h("span", { class: "swatch", style: `background:${COLORS[i]}` })),
        h("td", {}, label(id)), ...(s ? [s.count, s.last_step, num(s.last), num(s.min), num(s.max)]
          : [0, "—", "—", "—", "—"]).map((v) => h("td", { class: "num" }, v)));
    });
    charts.append(h("section", { class: "metric" }, box,
      table(["", m.name, "N", "step", "last", "min", "max"], rows, { class: "summary" })));
    chart(box, m.name, ids.map(label), align(ids.map((id) => m.series[id] || [])));
  }
  const diffs = data.config_differences;
  app.append(h("h2", {}, "Config differences"), diffs.length
    ? table(["field", ...ids.map(label)], diffs.map((d) => h("tr", {}, h("td", { class: "mono" }, d.field),
        ids.map((id) => h("td", { class: "mono" }, d.values[id])))), { id: "differences" })
    : h("div", { class: "empty" }, "the configs are the same"));
}

// -- Instances -----------------------------------------------------------------------------------
function instancesPage(data) {
  app.replaceChildren(h("h1", {}, "Instances"), ...data.problems.map((p) => h("div", { class: "problem" }, p)));
  if (!data.instances.length) {
    app.append(h("div", { class: "empty" }, "no persistent instances yet; try: flow run --on my-a6000 python train.py"));
    return;
  }
  const act = (i, action) => h("button", { type: "button", onclick: async (e) => {
    e.target.disabled = true;
    try { await post(`/api/instances/${i.provider}/${encodeURIComponent(i.name)}/${action}`); location.reload(); }
    catch (err) { flash(err.message); e.target.disabled = false; }
  } }, action);
  app.append(table(["instance", "provider", "state", "flavor", "region", "queue", "sleeps in", ""],
    data.instances.map((i) => h("tr", {}, h("td", {}, i.name), h("td", {}, i.provider), h("td", {}, i.described),
      h("td", {}, i.flavor), h("td", {}, i.region), h("td", {}, i.queue.join(", ") || "—"),
      h("td", {}, i.sleeps_in_s == null ? "—" : `${seconds(i.sleeps_in_s)}, then ${i.policy}`),
      h("td", {}, i.state === "hibernated" ? act(i, "wake") : act(i, "hibernate"))))));
}

// -- Catalog -------------------------------------------------------------------------------------
function catalogPage(data) {
  const f = data.filters;
  const input = (name, label, attrs = {}) => h("label", {}, label, " ",
    h("input", { name, value: f[name] ?? "", size: 8, ...attrs }));
  const form = h("form", { class: "filters", method: "get", action: "/catalog" },
    input("min_gpu_memory_gb", "GPU memory ≥ (GB)", { type: "number", step: "any", min: 0 }),
    input("max_price_per_hour", "price ≤ ($/h)", { type: "number", step: "any", min: 0 }),
    input("gpu", "GPU"), input("provider", "provider"), h("button", { type: "submit" }, "Filter"));
  const rows = data.offers.map((o) => h("tr", {}, h("td", {}, o.instance_type), h("td", {}, o.gpu ?? "—"),
    h("td", { class: "num" }, o.gpu_count), h("td", { class: "num" }, `${o.gpu_memory_gb} GB`),
    h("td", { class: "num" }, o.price_per_hour == null ? "—" : `$${o.price_per_hour.toFixed(2)}`),
    h("td", {}, o.provider), h("td", {}, o.region || "—"), h("td", {}, o.spot ? "spot" : "on demand")));
  app.replaceChildren(h("h1", {}, "Catalog"), form,
    table(["instance type", "GPU", "GPUs", "GPU memory", "price/h", "provider", "region", "market"], rows, { id: "offers" }),
    h("div", { class: "hint" }, `${data.offers.length} offers, cheapest first; prices are indicative (US dollars per instance-hour)`));
}

const PAGES = { tasks: tasksPage, task: taskPage, compare: comparePage, instances: instancesPage, catalog: catalogPage };
const name = document.body.dataset.page;
if (DATA && DATA.error && name !== "compare") app.replaceChildren(h("h1", {}, document.title), problem(DATA));
else PAGES[name](DATA);
