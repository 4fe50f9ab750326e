/// The dashboard page (docs/dashboard.md): one self-contained HTML file with its CSS and
/// JavaScript inline, so the gateway serves it with nothing to fetch elsewhere. The script
/// polls /dashboard/api/activity every second and /dashboard/api/cluster every two, and
/// draws its charts on canvases itself.
enum DashboardPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Tessera dashboard</title>
        <link rel="icon" href="data:,">
        <style>
          :root {
            --bg: #f6f7f9; --panel: #ffffff; --text: #1d2330; --muted: #667085; --line: #e3e6eb;
            --accent: #2f6fdb; --accent2: #d9822b; --ok: #1f9d55; --warn: #c98a00; --bad: #d64545; --idle: #8a94a6;
          }
          * { box-sizing: border-box; }
          body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--text); }
          header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: #18202f; color: #fff; }
          header h1 { font-size: 18px; margin: 0; font-weight: 600; }
          header .status { color: #b8c1d1; font-size: 13px; }
          #banner { display: none; margin: 12px 24px 0; padding: 8px 12px; border-radius: 6px; background: #fdecec; color: #8a1f1f; border: 1px solid #f3c2c2; }
          #banner.shown { display: block; }
          main { padding: 16px 24px 32px; display: grid; gap: 16px; grid-template-columns: repeat(4, minmax(0, 1fr)); }
          section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; min-width: 0; }
          section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 8px; font-weight: 600; }
          .wide { grid-column: span 2; } .full { grid-column: 1 / -1; }
          .stat .value { font-size: 28px; font-weight: 600; font-variant-numeric: tabular-nums; }
          .stat .unit { font-size: 14px; color: var(--muted); margin-left: 4px; }
          .stat .sub { color: var(--muted); font-size: 12px; }
          canvas { width: 100%; height: 160px; display: block; }
          canvas.spark { height: 40px; margin-top: 6px; }
          table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
          th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
          th { font-size: 12px; color: var(--muted); font-weight: 600; }
          td.num, th.num { text-align: right; }
          .scroll { overflow-x: auto; }
          .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; background: var(--idle); }
          .badge.serving, .badge.stop, .badge.length { background: var(--ok); }
          .badge.loading { background: var(--warn); }
          .badge.stale, .badge.quarantined, .badge.failed { background: var(--bad); }
          .badge.cancelled { background: var(--idle); }
          .pipeline { margin: 10px 0 14px; }
          .pipeline .meta { font-size: 12px; color: var(--muted); margin-bottom: 6px; }
          .pipeline .meta strong { color: var(--text); }
          .chain { display: flex; align-items: stretch; gap: 0; }
          .stage { border: 2px solid var(--ok); border-radius: 6px; padding: 6px 10px; background: #f2fbf5; min-width: 120px; }
          .stage.not-ready { border-color: var(--warn); background: #fff8e6; }
          .stage .worker { font-weight: 600; }
          .stage .layers { font-size: 12px; color: var(--muted); }
          .arrow { align-self: center; padding: 0 6px; color: var(--muted); font-size: 18px; }
          .empty { color: var(--muted); font-style: italic; }
          .warnings { color: var(--warn); font-size: 12px; }
          code { font-size: 12px; }
          @media (max-width: 900px) { main { grid-template-columns: 1fr 1fr; } .wide { grid-column: 1 / -1; } }
        </style>
        </head>
        <body>
        <header>
          <h1>Tessera</h1>
          <span class="status" id="updated">connecting…</span>
        </header>
        <div id="banner" role="alert"></div>
        <main>
          <section class="stat"><h2>Tokens / s</h2><div><span class="value" id="stat-tps">–</span><span class="unit">tok/s</span></div><div class="sub" id="stat-tps-sub">last second</div></section>
          <section class="stat"><h2>Time to first token</h2><div><span class="value" id="stat-ttft">–</span><span class="unit">ms</span></div><div class="sub">mean over the last minute</div></section>
          <section class="stat"><h2>Queue</h2><div><span class="value" id="stat-queue">–</span><span class="unit" id="stat-queue-max"></span></div><div class="sub" id="stat-active">–</div><canvas class="spark" id="queue-chart" aria-label="queue depth"></canvas></section>
          <section class="stat"><h2>Workers</h2><div><span class="value" id="stat-workers">–</span></div><div class="sub" id="stat-pipelines">–</div></section>

          <section class="wide"><h2>Tokens per second (last minute)</h2><canvas id="tps-chart" aria-label="tokens per second"></canvas></section>
          <section class="wide"><h2>Time to first token, ms (last minute)</h2><canvas id="ttft-chart" aria-label="time to first token"></canvas></section>

          <section class="full"><h2>Workers</h2>
            <div class="scroll"><table id="workers">
              <thead><tr><th>Worker</th><th>Address</th><th>State</th><th class="num">Memory used / budget</th><th class="num">GFLOPS</th><th class="num">Decode GB/s</th><th class="num">Sessions</th><th class="num">CPU</th><th class="num">Heartbeat</th><th>Reputation</th></tr></thead>
              <tbody></tbody>
            </table></div>
            <div class="warnings" id="warnings"></div>
          </section>

          <section class="full"><h2>Pipelines</h2><div id="pipelines"></div></section>

          <section class="full"><h2>Recent requests</h2>
            <div class="scroll"><table id="requests">
              <thead><tr><th>Finished</th><th>Request</th><th>Model</th><th class="num">Prompt</th><th class="num">Output</th><th class="num">TTFT</th><th class="num">Duration</th><th>Status</th><th class="num">Failovers</th><th>Receipt</th></tr></thead>
              <tbody></tbody>
            </table></div>
          </section>
        </main>
        <script>
        "use strict";
        (function () {
          const ACTIVITY_PERIOD_MS = 1000, CLUSTER_PERIOD_MS = 2000, TIMEOUT_MS = 5000, QUEUE_HISTORY = 60;
          const queueHistory = [];
          const problems = { activity: null, cluster: null };
          let lastActivity = null;

          // Elements are built with textContent only: worker ids and model names are data, not markup.
          function el(tag, attrs, ...children) {
            const node = document.createElement(tag);
            for (const [key, value] of Object.entries(attrs || {})) {
              if (key === "class") node.className = value; else node.setAttribute(key, value);
            }
            for (const child of children) {
              if (child === null || child === undefined) continue;
              node.append(child instanceof Node ? child : document.createTextNode(String(child)));
            }
            return node;
          }
          function text(id, value) { document.getElementById(id).textContent = value; }
          function bytes(value) {
            const units = ["B", "KiB", "MiB", "GiB", "TiB"];
            let amount = value, unit = 0;
            while (amount >= 1024 && unit < units.length - 1) { amount /= 1024; unit += 1; }
            return unit === 0 ? value + " B" : amount.toFixed(1) + " " + units[unit];
          }
          function ms(value) {
            if (value === null || value === undefined) return "–";
            return value >= 10000 ? (value / 1000).toFixed(1) + " s" : Math.round(value) + " ms";
          }
          function fixed(value, digits) { return value === null || value === undefined ? "–" : value.toFixed(digits); }

          async function getJSON(path) {
            const controller = new AbortController();
            const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
            try {
              const response = await fetch(path, { cache: "no-store", signal: controller.signal });
              const body = await response.json().catch(() => null);
              if (!response.ok) {
                const message = body && body.error && body.error.message ? body.error.message : response.statusText;
                throw new Error(path + ": HTTP " + response.status + ": " + message);
              }
              return body;
            } finally {
              clearTimeout(timer);
            }
          }

          function showProblems() {
            const banner = document.getElementById("banner");
            const messages = Object.values(problems).filter(Boolean);
            banner.textContent = messages.join(" · ");
            banner.classList.toggle("shown", messages.length > 0);
          }

          // A line chart on a canvas: values oldest first, null leaves a gap; the y axis starts at 0.
          function drawChart(canvas, values, options) {
            const ratio = window.devicePixelRatio || 1;
            const width = canvas.clientWidth, height = canvas.clientHeight;
            if (width === 0 || height === 0) return;
            canvas.width = Math.round(width * ratio);
            canvas.height = Math.round(height * ratio);
            const g = canvas.getContext("2d");
            g.setTransform(ratio, 0, 0, ratio, 0, 0);
            g.clearRect(0, 0, width, height);
            const left = options.axes ? 44 : 2, right = 6, top = 6, bottom = options.axes ? 18 : 2;
            const plotW = width - left - right, plotH = height - top - bottom;
            const present = values.filter((v) => v !== null);
            let max = Math.max(options.minMax || 1, ...present);
            const step = niceStep(max / 4);
            max = Math.ceil(max / step) * step;
            const x = (i) => left + (values.length <= 1 ? plotW : (i * plotW) / (values.length - 1));
            const y = (v) => top + plotH - (v / max) * plotH;
            if (options.axes) {
              g.strokeStyle = "#e3e6eb"; g.fillStyle = "#667085"; g.lineWidth = 1;
              g.font = "11px system-ui, sans-serif"; g.textAlign = "right"; g.textBaseline = "middle";
              for (let v = 0; v <= max + step / 2; v += step) {
                g.beginPath(); g.moveTo(left, Math.round(y(v)) + 0.5); g.lineTo(width - right, Math.round(y(v)) + 0.5); g.stroke();
                g.fillText(formatTick(v), left - 6, y(v));
              }
              g.textAlign = "left"; g.textBaseline = "top";
              g.fillText("-" + (values.length) + " s", left, top + plotH + 4);
              g.textAlign = "right"; g.fillText("now", width - right, top + plotH + 4);
            }
            g.strokeStyle = options.color; g.lineWidth = 2; g.lineJoin = "round";
            g.fillStyle = options.color;
            let drawing = false;
            g.beginPath();
            values.forEach((v, i) => {
              if (v === null) { drawing = false; return; }
              if (!drawing) { g.moveTo(x(i), y(v)); drawing = true; } else { g.lineTo(x(i), y(v)); }
            });
            g.stroke();
            if (options.points) {
              values.forEach((v, i) => { if (v !== null) { g.beginPath(); g.arc(x(i), y(v), 2.5, 0, 2 * Math.PI); g.fill(); } });
            }
          }
          function niceStep(raw) {
            if (raw <= 0) return 1;
            const power = Math.pow(10, Math.floor(Math.log10(raw)));
            for (const m of [1, 2, 2.5, 5, 10]) { if (m * power >= raw) return m * power; }
            return 10 * power;
          }
          function formatTick(v) { return v >= 1000 ? (v / 1000).toFixed(v % 1000 === 0 ? 0 : 1) + "k" : String(Math.round(v * 100) / 100); }

          function renderActivity(data) {
            lastActivity = data;
            const samples = data.throughput;
            const last = samples.length ? samples[samples.length - 1] : null;
            text("stat-tps", last ? String(last.tokens) : "0");
            const withTTFT = samples.filter((s) => s.first_tokens > 0);
            const firsts = withTTFT.reduce((n, s) => n + s.first_tokens, 0);
            const meanTTFT = firsts ? withTTFT.reduce((sum, s) => sum + s.mean_ttft_ms * s.first_tokens, 0) / firsts : null;
            text("stat-ttft", meanTTFT === null ? "–" : String(Math.round(meanTTFT)));
            text("stat-queue", String(data.queue.waiting));
            text("stat-queue-max", "of " + data.queue.max_queued);
            text("stat-active", data.queue.active_generations + " generating · " + data.queue.waiting_for_pipeline + " waiting for a pipeline");
            queueHistory.push(data.queue.waiting);
            while (queueHistory.length > QUEUE_HISTORY) queueHistory.shift();
            drawCharts();
            renderRequests(data.recent_requests);
          }

          function drawCharts() {
            if (!lastActivity) return;
            const samples = lastActivity.throughput;
            drawChart(document.getElementById("tps-chart"), samples.map((s) => s.tokens), { color: "#2f6fdb", axes: true, minMax: 10 });
            drawChart(document.getElementById("ttft-chart"), samples.map((s) => s.mean_ttft_ms), { color: "#d9822b", axes: true, points: true, minMax: 100 });
            drawChart(document.getElementById("queue-chart"), queueHistory, { color: "#8a94a6", minMax: 1 });
          }

          function renderRequests(requests) {
            const body = document.querySelector("#requests tbody");
            const rows = requests.map((r) => el("tr", { "data-request-id": r.id },
              el("td", {}, new Date(r.finished_at_unix_ms).toLocaleTimeString()),
              el("td", {}, el("code", {}, r.id)),
              el("td", {}, r.model),
              el("td", { class: "num" }, r.prompt_tokens),
              el("td", { class: "num" }, r.completion_tokens),
              el("td", { class: "num" }, ms(r.ttft_ms)),
              el("td", { class: "num" }, ms(r.duration_ms)),
              el("td", {}, el("span", { class: "badge " + r.status, title: r.error_message || "" }, r.error ? r.status + ": " + r.error : r.status)),
              el("td", { class: "num" }, r.failovers),
              el("td", {}, r.receipt_id ? el("code", {}, r.receipt_id) : "–")));
            body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "10", class: "empty" }, "no requests yet"))]));
          }

          function renderCluster(data) {
            const body = document.querySelector("#workers tbody");
            const rows = data.workers.map((w) => el("tr", { "data-worker-id": w.id },
              el("td", { class: "worker-id" }, el("strong", {}, w.id)),
              el("td", {}, el("code", {}, w.address)),
              el("td", {}, el("span", { class: "badge " + w.state }, w.state)),
              el("td", { class: "num" }, bytes(w.memory_used_bytes) + " / " + bytes(w.memory_bytes)),
              el("td", { class: "num" }, fixed(w.compute_gflops, 1)),
              el("td", { class: "num" }, fixed(w.decode_gbps, 1)),
              el("td", { class: "num" }, w.session_slots > 0 ? w.active_sessions + "/" + w.session_slots : String(w.active_sessions)),
              el("td", { class: "num" }, Math.round(w.cpu_utilization * 100) + "%"),
              el("td", { class: "num" }, w.last_heartbeat_age_s.toFixed(1) + " s ago"),
              el("td", {}, reputation(w, data.reputations))));
            body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "10", class: "empty" }, "no workers registered"))]));
            const counts = {};
            for (const w of data.workers) counts[w.state] = (counts[w.state] || 0) + 1;
            text("stat-workers", String(data.workers.length));
            const ready = data.pipelines.filter((p) => p.ready).length;
            text("stat-pipelines", Object.entries(counts).map(([s, n]) => n + " " + s).join(" · ") + (data.workers.length ? " — " : "") + ready + " of " + data.pipelines.length + " pipelines ready");
            text("warnings", data.warnings.join(" · "));
            renderPipelines(data.pipelines);
          }

          function reputation(worker, availability) {
            if (worker.reputation) {
              const r = worker.reputation;
              return r.score.toFixed(3) + " · " + r.trust + " (" + r.checks_passed + "✓ " + r.checks_failed + "✗)" + (r.slashed ? " · slashed" : "");
            }
            if (availability.status === "not_configured") return "no verifier";
            if (availability.status === "unreachable") return "verifier unreachable";
            return "not scored";
          }

          function renderPipelines(pipelines) {
            const container = document.getElementById("pipelines");
            if (!pipelines.length) { container.replaceChildren(el("div", { class: "empty" }, "no pipelines placed")); return; }
            container.replaceChildren(...pipelines.map((p) => {
              const chain = el("div", { class: "chain" });
              p.stages.forEach((s, i) => {
                if (i > 0) chain.append(el("span", { class: "arrow", "aria-hidden": "true" }, "→"));
                const layers = s.first_layer === null ? "layers ?"
                  : s.end_layer - s.first_layer === 1 ? "layer " + s.first_layer : "layers " + s.first_layer + "–" + (s.end_layer - 1);
                const box = el("div", { class: "stage" + (s.ready ? "" : " not-ready"), "data-worker-id": s.worker_id, title: s.address },
                  el("div", { class: "worker" }, s.worker_id), el("div", { class: "layers" }, layers),
                  el("div", { class: "layers" }, s.ready ? (s.predicted_ms_per_token ? s.predicted_ms_per_token.toFixed(1) + " ms/token" : "ready") : "loading"));
                if (p.model_layers && s.first_layer !== null) box.style.flexGrow = String(Math.max(1, s.end_layer - s.first_layer));
                chain.append(box);
              });
              const state = p.draining ? "draining" : p.ready ? "ready" : "loading";
              return el("div", { class: "pipeline", "data-pipeline-id": p.id },
                el("div", { class: "meta" }, el("strong", {}, p.id), " · " + (p.model || p.model_sha256.slice(0, 12)) + " · " + state +
                  " · " + p.active_requests + " active" + (p.predicted_ms_per_token ? " · " + p.predicted_ms_per_token.toFixed(1) + " ms/token predicted" : "") +
                  (p.context_length ? " · context " + p.context_length : "")),
                chain);
            }));
          }

          function stamp() {
            text("updated", "updated " + new Date().toLocaleTimeString() + " · polling every " + ACTIVITY_PERIOD_MS / 1000 + " s");
          }

          // Each poll is scheduled after the previous one ends, so a slow gateway never gets a pile of requests.
          function poll(path, period, key, render) {
            const run = async () => {
              if (document.hidden) { setTimeout(run, period); return; }
              try {
                render(await getJSON(path));
                problems[key] = null;
                stamp();
              } catch (error) {
                problems[key] = error.name === "AbortError" ? path + ": no answer within " + TIMEOUT_MS / 1000 + " s" : error.message;
              }
              showProblems();
              setTimeout(run, period);
            };
            run();
          }

          poll("/dashboard/api/activity", ACTIVITY_PERIOD_MS, "activity", renderActivity);
          poll("/dashboard/api/cluster", CLUSTER_PERIOD_MS, "cluster", renderCluster);
          window.addEventListener("resize", drawCharts);
        })();
        </script>
        </body>
        </html>
        """#
}
