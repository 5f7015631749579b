// The migration report page: /migration.json every two seconds, one panel per route. The
// latest figures are kept in window.junctionMigration (the browser test reads them).
"use strict";

const REFRESH_MS = 2000;

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children)
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function figure(value, digits = 1) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

function percent(rate) {
  return rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + " %";
}

function errors(app) {
  const status = app.status || {};
  const bad = (status["5xx"] || 0) + (status["none"] || 0);
  return app.requests ? ((bad / app.requests) * 100).toFixed(1) + " %" : "—";
}

function appsTable(route) {
  const head = element("tr", {},
    element("th", {}, "App"), element("th", {}, "Side"), element("th", { class: "num" }, "Requests"),
    element("th", { class: "num" }, "p50 ms"), element("th", { class: "num" }, "p99 ms"),
    element("th", { class: "num" }, "5xx %"), element("th", { class: "num" }, "Fell through"));
  const body = element("tbody");
  for (const app of route.apps) {
    body.append(element("tr", { "data-app": app.app },
      element("td", {}, app.app), element("td", {}, app.side),
      element("td", { class: "num" }, app.requests ?? 0),
      element("td", { class: "num" }, figure(app.p50_ms)),
      element("td", { class: "num" }, figure(app.p99_ms)),
      element("td", { class: "num" }, errors(app)),
      element("td", { class: "num" }, app.fell_through ? app.fell_through.replayed : "—")));
  }
  return element("table", { class: "grid" }, element("thead", {}, head), body);
}

function shadowPanel(shadow) {
  const facts = element("p", { class: "shadow-facts" },
    `Match rate ${percent(shadow.match_rate)} of ${shadow.compared} compared; ` +
    `${shadow.busy} not shadowed (busy), ${shadow.too_large} too large, ${shadow.failed} failed.`);
  const rows = element("tbody");
  for (const m of shadow.mismatches) {
    const where = [m.status ? "status" : "", m.header ? "header " + m.header : "", m.body]
      .filter(Boolean).join("; ");
    rows.append(element("tr", {},
      element("td", {}, new Date(m.time * 1000).toLocaleTimeString()),
      element("td", { class: "mono" }, m.request),
      element("td", { class: "num" }, `${m.primary_status} / ${m.shadow_status}`),
      element("td", { class: "mono" }, where),
      element("td", { class: "mono" }, m.primary),
      element("td", { class: "mono" }, m.shadow)));
  }
  const table = element("table", { class: "grid diffs" },
    element("thead", {}, element("tr", {},
      element("th", {}, "Time"), element("th", {}, "Request"), element("th", { class: "num" }, "Status"),
      element("th", {}, "First difference"), element("th", {}, "Primary"),
      element("th", {}, "Shadow"))),
    rows);
  return element("div", {}, facts,
    shadow.mismatches.length ? table : element("p", { class: "empty" }, "No differences."));
}

function render(report) {
  const main = document.getElementById("routes");
  for (const old of main.querySelectorAll("section")) old.remove();
  document.getElementById("empty").hidden = report.routes.length > 0;
  for (const route of report.routes) {
    const panel = element("section", { class: "panel", "data-route": route.route, "data-mode": route.mode },
      element("h2", {}, route.route, " ", element("span", { class: "hint" }, route.description)),
      appsTable(route));
    if (route.shadow) panel.append(shadowPanel(route.shadow));
    main.append(panel);
  }
}

async function refresh() {
  const badge = document.getElementById("badge");
  try {
    const answer = await fetch("/migration.json", { cache: "no-store" });
    const report = await answer.json();
    window.junctionMigration = report;
    render(report);
    badge.textContent = "live";
    badge.className = "badge live";
  } catch (error) {
    badge.textContent = "unreachable";
    badge.className = "badge down";
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
