/// The operator's status page served at `GET /status`: one self-contained HTML document (inline CSS,
/// inline script, SVG built by the script; no external assets). The script fetches `/v1/status`
/// from the same node every 5 seconds and redraws.
enum StatusPage {
    static let html: String = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>SMA cluster status</title>
    <style>
    :root { --bg:#f4f6f9; --card:#fff; --ink:#1b2430; --muted:#677489; --line:#e3e8ef; --accent:#2f5fd0;
            --pass:#1f9d55; --fail:#d64545; --warn:#d98b1a; --dead:#8a94a6; }
    * { box-sizing: border-box; }
    body { margin:0; background:var(--bg); color:var(--ink); font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; }
    header { background:#17233a; color:#fff; padding:14px 28px; display:flex; align-items:center; gap:18px; }
    header h1 { font-size:18px; margin:0; font-weight:600; letter-spacing:.2px; }
    header .sub { color:#b8c3d8; font-size:13px; }
    header .right { margin-left:auto; display:flex; align-items:center; gap:10px; font-size:13px; color:#b8c3d8; }
    .dot { width:9px; height:9px; border-radius:50%; background:var(--pass); display:inline-block; }
    .dot.stale { background:var(--fail); }
    main { padding:22px 28px 36px; max-width:1400px; margin:0 auto; }
    .cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(170px,1fr)); gap:14px; margin-bottom:20px; }
    .card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
    .card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.6px; }
    .card .v { font-size:22px; font-weight:600; margin-top:4px; font-variant-numeric:tabular-nums; }
    .card .s { color:var(--muted); font-size:12px; margin-top:2px; }
    h2 { font-size:15px; margin:0 0 10px; font-weight:600; }
    section { margin-bottom:22px; }
    .regions { display:grid; grid-template-columns:repeat(auto-fit,minmax(380px,1fr)); gap:14px; }
    .panel { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
    .panel h3 { margin:0 0 8px; font-size:14px; font-weight:600; display:flex; justify-content:space-between; }
    .panel h3 span { color:var(--muted); font-weight:400; font-size:12px; }
    table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
    th { text-align:left; color:var(--muted); font-weight:500; font-size:12px; padding:6px 8px; border-bottom:1px solid var(--line); }
    td { padding:7px 8px; border-bottom:1px solid var(--line); }
    tr:last-child td { border-bottom:none; }
    td.num, th.num { text-align:right; }
    .pill { display:inline-block; padding:1px 9px; border-radius:999px; font-size:12px; font-weight:600; }
    .pill.up { background:#e3f5ea; color:var(--pass); }
    .pill.suspect { background:#fdf1de; color:var(--warn); }
    .pill.dead { background:#eceff3; color:var(--dead); }
    .tag { display:inline-block; padding:0 7px; border-radius:4px; font-size:11px; font-weight:600; background:#e6edfb; color:var(--accent); margin-left:6px; }
    .role { color:var(--muted); font-size:12px; }
    .charts { display:grid; grid-template-columns:2fr 1fr; gap:14px; }
    @media (max-width: 900px) { .charts { grid-template-columns:1fr; } }
    .legend { display:flex; gap:14px; font-size:12px; color:var(--muted); }
    .legend i { display:inline-block; width:12px; height:3px; vertical-align:middle; margin-right:5px; }
    .chart svg { display:block; }
    .muted { color:var(--muted); }
    .empty { color:var(--muted); padding:10px 0; }
    .err { background:#fdecec; color:var(--fail); border:1px solid #f5c2c2; padding:8px 12px; border-radius:8px; margin-bottom:14px; display:none; }
    footer { color:var(--muted); font-size:12px; text-align:center; padding-bottom:20px; }
    code { font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:12px; }
    code.serial { font-size:13px; font-weight:600; color:var(--ink); }
    </style>
    </head>
    <body>
    <header>
      <h1>SMA cluster</h1>
      <div class="sub" id="servedby">loading…</div>
      <div class="right"><span class="dot" id="livedot"></span><span id="updated">waiting for data</span></div>
    </header>
    <main>
      <div class="err" id="error"></div>
      <div class="cards">
        <div class="card"><div class="k">Leader</div><div class="v" id="c-leader">–</div><div class="s" id="c-epoch">&nbsp;</div></div>
        <div class="card"><div class="k">Log head</div><div class="v" id="c-head">–</div><div class="s" id="c-lag">&nbsp;</div></div>
        <div class="card"><div class="k">Nodes up</div><div class="v" id="c-up">–</div><div class="s" id="c-regions">&nbsp;</div></div>
        <div class="card"><div class="k">Validations / s</div><div class="v" id="c-rate">–</div><div class="s">last minute, whole cluster</div></div>
        <div class="card"><div class="k">PASS ratio</div><div class="v" id="c-ratio">–</div><div class="s">last 5 minutes</div></div>
        <div class="card"><div class="k">Recent revocations</div><div class="v" id="c-rev">–</div><div class="s" id="c-rev-s">&nbsp;</div></div>
      </div>
      <section>
        <h2>Regions and nodes</h2>
        <div class="regions" id="regions"></div>
      </section>
      <section class="charts">
        <div class="panel chart">
          <h3>Validation rate (per second, 10 s buckets, last 15 min)
            <span class="legend"><span><i style="background:var(--pass)"></i>PASS</span><span><i style="background:var(--fail)"></i>FAIL</span></span></h3>
          <div id="rate-chart"></div>
        </div>
        <div class="panel chart">
          <h3>PASS ratio <span>share of validations that passed</span></h3>
          <div id="ratio-chart"></div>
        </div>
      </section>
      <section>
        <div class="panel">
          <h3>Recent revocations <span>latest 10, newest first, from this node's database</span></h3>
          <div id="revocations"></div>
        </div>
      </section>
    </main>
    <footer>Data: <code>GET /v1/status</code> of this node, refreshed every 5 s. Node series arrive over the peer channel.</footer>
    <script>
    "use strict";
    const REFRESH_MS = 5000;
    let lastOK = 0;

    function esc(s) {
      return String(s == null ? "" : s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c]));
    }
    function fmtInt(n) { return Number(n).toLocaleString("en-US"); }
    function fmtRate(n) { return n >= 100 ? fmtInt(Math.round(n)) : n.toFixed(n >= 10 ? 1 : 2); }
    function fmtLag(n) {
      if (n.lag_entries === 0) return '<span class="muted">0</span>';
      const secs = n.lag_seconds == null ? "" : " · " + n.lag_seconds.toFixed(1) + " s";
      return fmtInt(n.lag_entries) + " entries" + secs;
    }
    function statusPill(s) {
      const label = s === "alive" ? "up" : s;
      const cls = s === "alive" ? "up" : (s === "suspect" ? "suspect" : "dead");
      return '<span class="pill ' + cls + '">' + esc(label) + '</span>';
    }
    function timeAgo(iso) {
      const t = Date.parse(iso);
      if (isNaN(t)) return esc(iso);
      const d = Math.max(0, (Date.now() - t) / 1000);
      const ago = d < 60 ? Math.round(d) + " s ago" : d < 3600 ? Math.round(d / 60) + " min ago" : d < 86400 ? Math.round(d / 3600) + " h ago" : Math.round(d / 86400) + " d ago";
      return esc(iso.replace("T", " ").replace(/\.\d+Z$/, " UTC")) + ' <span class="muted">(' + ago + ')</span>';
    }

    function renderRegions(data) {
      const html = data.regions.map(r => {
        const up = r.nodes.filter(n => n.status === "alive").length;
        const rows = r.nodes.map(n =>
          '<tr data-node="' + esc(n.id) + '"><td><b>' + esc(n.id) + '</b>' + (n.is_leader ? '<span class="tag">LEADER</span>' : "") +
          '<div class="role">' + esc(n.role) + '</div></td>' +
          '<td>' + statusPill(n.status) + '</td>' +
          '<td class="num">' + fmtInt(n.applied_seq) + '</td>' +
          '<td class="num">' + fmtLag(n) + '</td></tr>').join("");
        return '<div class="panel"><h3>' + esc(r.name) + ' <span>' + up + ' / ' + r.nodes.length + ' up</span></h3>' +
          '<table><thead><tr><th>Node</th><th>Status</th><th class="num">Applied seq</th><th class="num">Lag</th></tr></thead>' +
          '<tbody>' + rows + '</tbody></table></div>';
      }).join("");
      document.getElementById("regions").innerHTML = html;
    }

    function lineChart(el, series, opts) {
      const W = Math.max(320, Math.round(el.clientWidth || 640)), H = 220, L = 52, R = 12, T = 12, B = 26;
      const n = series[0].values.length;
      let max = opts.max;
      if (max == null) {
        max = 0;
        for (const s of series) for (const v of s.values) if (v != null && v > max) max = v;
        max = niceMax(max);
      }
      const x = i => L + (n <= 1 ? 0 : i * (W - L - R) / (n - 1));
      const y = v => T + (H - T - B) * (1 - v / max);
      let svg = '<svg viewBox="0 0 ' + W + ' ' + H + '" width="' + W + '" height="' + H + '" role="img" aria-label="' + esc(opts.label) + '">';
      for (let k = 0; k <= 4; k++) {
        const v = max * k / 4, yy = y(v);
        svg += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + yy + '" y2="' + yy + '" stroke="#e3e8ef" stroke-width="1"/>';
        svg += '<text x="' + (L - 6) + '" y="' + (yy + 4) + '" text-anchor="end" font-size="11" fill="#677489">' + opts.tick(v) + '</text>';
      }
      for (const [i, lbl] of [[0, "-15 min"], [Math.round((n - 1) / 3), "-10 min"], [Math.round(2 * (n - 1) / 3), "-5 min"], [n - 1, "now"]]) {
        svg += '<text x="' + x(i) + '" y="' + (H - 8) + '" text-anchor="' + (i === 0 ? "start" : i === n - 1 ? "end" : "middle") + '" font-size="11" fill="#677489">' + lbl + '</text>';
      }
      for (const s of series) {
        const pts = [];
        s.values.forEach((v, i) => { if (v != null) pts.push(x(i).toFixed(1) + "," + y(v).toFixed(1)); });
        if (pts.length > 0) {
          svg += '<polyline class="' + s.cls + '" points="' + pts.join(" ") + '" fill="none" stroke="' + s.color + '" stroke-width="2" stroke-linejoin="round" vector-effect="non-scaling-stroke"/>';
        }
      }
      if (opts.empty) {
        svg += '<text x="' + ((L + W - R) / 2) + '" y="' + (T + (H - T - B) / 2) + '" text-anchor="middle" font-size="13" fill="#677489">' + esc(opts.empty) + '</text>';
      }
      svg += '</svg>';
      el.innerHTML = svg;
    }
    function niceMax(v) {
      if (v <= 0) return 1;
      const p = Math.pow(10, Math.floor(Math.log10(v)));
      for (const m of [1, 2, 4, 6, 8, 10]) if (v <= m * p) return m * p;
      return 10 * p;
    }

    function renderCharts(data) {
      const b = data.validations.buckets, w = data.validations.bucket_seconds;
      const done = b.slice(0, -1);
      const pass = done.map(x => x.pass / w), fail = done.map(x => x.fail / w);
      const ratio = done.map(x => (x.pass + x.fail) > 0 ? 100 * x.pass / (x.pass + x.fail) : null);
      const empty = done.some(x => x.pass + x.fail > 0) ? null : "no validations in the last 15 minutes";
      lineChart(document.getElementById("rate-chart"), [
        {values: pass, color: "#1f9d55", cls: "pass"}, {values: fail, color: "#d64545", cls: "fail"}],
        {label: "validations per second", tick: v => fmtRate(v), empty: empty});
      lineChart(document.getElementById("ratio-chart"), [{values: ratio, color: "#2f5fd0", cls: "ratio"}],
        {label: "PASS ratio", max: 100, tick: v => Math.round(v) + "%", empty: empty});
      const lastMin = done.slice(-6), last5 = done.slice(-30);
      const sum = (a, f) => a.reduce((s, x) => s + f(x), 0);
      const perSec = sum(lastMin, x => x.pass + x.fail) / (lastMin.length * w || 1);
      document.getElementById("c-rate").textContent = fmtRate(perSec);
      const p5 = sum(last5, x => x.pass), t5 = sum(last5, x => x.pass + x.fail);
      document.getElementById("c-ratio").textContent = t5 > 0 ? (100 * p5 / t5).toFixed(1) + " %" : "–";
    }

    function renderRevocations(data) {
      const r = data.recent_revocations;
      document.getElementById("c-rev").textContent = r.length >= 20 ? "20+" : fmtInt(r.length);
      document.getElementById("c-rev-s").textContent = r.length ? "latest " + r[0].serial : "none";
      if (!r.length) { document.getElementById("revocations").innerHTML = '<div class="empty">No device is revoked.</div>'; return; }
      document.getElementById("revocations").innerHTML = '<table><thead><tr><th>Serial</th><th>Reason</th><th>Revoked at</th></tr></thead><tbody>' +
        r.slice(0, 10).map(x => '<tr><td><code class="serial">' + esc(x.serial) + '</code></td><td>' + (x.reason ? esc(x.reason) : '<span class="muted">–</span>') +
          '</td><td>' + timeAgo(x.revoked_at) + '</td></tr>').join("") + '</tbody></table>' +
        (r.length > 10 ? '<div class="empty">' + (r.length - 10) + ' more in <code>/v1/status</code></div>' : "");
    }

    function render(data) {
      const nodes = data.regions.flatMap(r => r.nodes);
      const up = nodes.filter(n => n.status === "alive").length;
      document.getElementById("servedby").textContent = "served by " + data.node_id + " (" + data.region + ")";
      document.getElementById("c-leader").textContent = data.leader.id || "none";
      document.getElementById("c-epoch").textContent = "lease epoch " + data.leader.epoch;
      document.getElementById("c-head").textContent = fmtInt(data.head_seq);
      const maxLag = Math.max(0, ...nodes.map(n => n.lag_entries));
      document.getElementById("c-lag").textContent = maxLag ? "max lag " + fmtInt(maxLag) + " entries" : "every node caught up";
      document.getElementById("c-up").textContent = up + " / " + nodes.length;
      document.getElementById("c-regions").textContent = data.regions.length + " region" + (data.regions.length === 1 ? "" : "s") +
        (data.validations.nodes_missing.length ? " · no series from " + data.validations.nodes_missing.join(", ") : "");
      renderRegions(data);
      renderCharts(data);
      renderRevocations(data);
    }

    async function refresh() {
      try {
        const r = await fetch("/v1/status", {cache: "no-store"});
        if (!r.ok) throw new Error("HTTP " + r.status);
        const data = await r.json();
        render(data);
        lastOK = Date.now();
        document.getElementById("error").style.display = "none";
        document.getElementById("updated").textContent = "updated " + new Date(data.generated_at).toLocaleTimeString("en-GB") + " · every 5 s";
        document.getElementById("livedot").className = "dot";
      } catch (e) {
        const el = document.getElementById("error");
        el.textContent = "Cannot load /v1/status from this node: " + e.message + (lastOK ? " (showing data from " + new Date(lastOK).toLocaleTimeString("en-GB") + ")" : "");
        el.style.display = "block";
        document.getElementById("livedot").className = "dot stale";
      }
    }
    refresh();
    setInterval(refresh, REFRESH_MS);
    </script>
    </body>
    </html>
    """#
}
