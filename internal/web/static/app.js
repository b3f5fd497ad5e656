// trailwatch dashboard: progressive enhancement only; every page reads
// without it. Changes go to the API (same origin, JSON) through send().
"use strict";

// send is the one way the pages change anything: a same-origin request
// with a JSON body, carrying the CSRF token of <meta name="csrf-token">
// when the page has one. It resolves with the parsed answer, or rejects
// with an Error whose message says why (the API's message when it gave
// one).
function send(method, url, body) {
  var headers = { "Accept": "application/json" };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; }
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && meta.content) { headers["X-CSRF-Token"] = meta.content; }
  return fetch(url, {
    method: method, credentials: "same-origin", headers: headers,
    body: body === undefined ? undefined : JSON.stringify(body)
  }).then(function (r) {
    return r.text().then(function (t) {
      var v = null;
      try { v = t ? JSON.parse(t) : null; } catch (e) { v = null; }
      if (r.ok) { return v; }
      var msg = (v && v.error && v.error.message) || ("the change was refused: " + r.status);
      var err = new Error(msg);
      err.status = r.status;
      throw err;
    });
  }, function () { throw new Error("the server could not be reached"); });
}

function showError(el, err) {
  if (!el) { return; }
  el.textContent = err.message;
  el.hidden = false;
}

// glob matches '*' and '?' patterns, as the server's filters do.
function glob(pattern, s) {
  var re = "^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$";
  return new RegExp(re).test(s || "");
}

var riskOrder = ["LOW", "MEDIUM", "HIGH", "VERY_HIGH", "EXTREME"];

function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) { e.className = cls; }
  if (text !== undefined) { e.textContent = text; }
  return e;
}

// printable shows control characters as escapes, as the server's pages do.
function printable(s) {
  return String(s || "").replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, function (c) {
    var h = c.charCodeAt(0).toString(16);
    return c.charCodeAt(0) > 0xff ? "\\u" + ("0000" + h).slice(-4) : "\\x" + ("0" + h).slice(-2);
  });
}

function utc(iso) {
  var d = new Date(iso);
  if (isNaN(d)) { return ""; }
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var e = document.getElementById(b.getAttribute("data-copy"));
      if (!e || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(e.textContent).then(function () {
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = "Copy"; }, 1500);
      }, function () { b.textContent = "Copy failed"; });
    });
  });

  // Triage on a finding's page: the buttons send the change, then the page
  // shows the new status and history.
  var triage = document.getElementById("triage-form");
  if (triage) {
    var pressed = null;
    triage.querySelectorAll("button[name=do]").forEach(function (b) {
      b.addEventListener("click", function () { pressed = b.value; });
    });
    triage.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var note = document.getElementById("note").value;
      send("POST", triage.getAttribute("data-action") + (pressed || "acknowledge"), note ? { note: note } : {}).then(function () {
        window.location.reload();
      }, function (err) { showError(document.getElementById("triage-error"), err); });
    });
  }

  // Silence similar, on a finding's page: the pre-filled matchers, as
  // edited, become a silence.
  var silence = document.getElementById("silence-form");
  if (silence) {
    silence.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var m = {};
      ["rule", "account", "region", "actor", "resource", "service", "max_risk"].forEach(function (k) {
        var i = silence.elements.namedItem(k);
        if (i && i.value.trim() !== "") { m[k] = i.value.trim(); }
      });
      var body = { matchers: m, comment: silence.elements.namedItem("comment").value };
      var d = silence.elements.namedItem("duration").value.trim();
      var end = silence.elements.namedItem("end").value.trim();
      if (end) {
        var t = new Date(end);
        if (isNaN(t.getTime())) { showError(document.getElementById("silence-error"), new Error("the end is not a time")); return; }
        body.end = t.toISOString();
      } else { body.duration = d; }
      send("POST", silence.getAttribute("data-api") + "/silences", body).then(function (s) {
        var out = document.getElementById("silence-done");
        out.textContent = "Silence " + s.id + " created; it ends " + utc(s.end) + ".";
        out.hidden = false;
        document.getElementById("silence-error").hidden = true;
      }, function (err) { showError(document.getElementById("silence-error"), err); });
    });
  }

  // Outbox actions (admins): retry or drop a delivery, then reload.
  document.querySelectorAll("button[data-outbox]").forEach(function (b) {
    b.addEventListener("click", function () {
      var out = document.getElementById("outbox-error");
      send("POST", b.getAttribute("data-outbox")).then(function () { window.location.reload(); },
        function (err) { showError(out, err); });
    });
  });

  // Expire a silence (responders).
  document.querySelectorAll("button[data-expire]").forEach(function (b) {
    b.addEventListener("click", function () {
      send("DELETE", b.getAttribute("data-expire")).then(function () { window.location.reload(); },
        function (err) { showError(document.getElementById("silences-error"), err); });
    });
  });

  // Create a silence from the silences page.
  var create = document.getElementById("new-silence");
  if (create) {
    create.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var m = {};
      ["rule", "account", "region", "actor", "resource", "service", "max_risk"].forEach(function (k) {
        var i = create.elements.namedItem(k);
        if (i && i.value.trim() !== "") { m[k] = i.value.trim(); }
      });
      var body = { matchers: m, comment: create.elements.namedItem("comment").value, duration: create.elements.namedItem("duration").value.trim() };
      send("POST", create.getAttribute("data-api") + "/silences", body).then(function () { window.location.reload(); },
        function (err) { showError(document.getElementById("new-silence-error"), err); });
    });
  }

  // Empty filter fields stay out of the URL, so a shared link says only
  // what was chosen.
  document.querySelectorAll("form.filters").forEach(function (f) {
    f.addEventListener("submit", function () {
      f.querySelectorAll("input, select").forEach(function (i) {
        if (i.value === "") { i.disabled = true; }
      });
    });
  });

  bulk();
  live();
});

// bulk: select findings on the feed (each, or every one on the page),
// then acknowledge, resolve or silence them together.
function bulk() {
  var form = document.getElementById("bulk");
  var table = document.getElementById("findings");
  if (!form || !table) { return; }
  var all = document.getElementById("select-all");
  var count = document.getElementById("bulk-count");
  function picked() {
    return Array.prototype.filter.call(table.querySelectorAll("input.pick"), function (i) { return i.checked; });
  }
  function update() {
    var n = picked().length;
    count.textContent = n === 0 ? "none selected" : (n === 1 ? "1 selected" : n + " selected");
    form.querySelectorAll("button[name=do]").forEach(function (b) { b.disabled = n === 0; });
    var boxes = table.querySelectorAll("input.pick");
    all.checked = n > 0 && n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
  }
  table.addEventListener("change", function (ev) {
    if (ev.target === all) {
      table.querySelectorAll("input.pick").forEach(function (i) { i.checked = all.checked; });
    }
    update();
  });
  var pressed = null;
  form.querySelectorAll("button[name=do]").forEach(function (b) {
    b.addEventListener("click", function () { pressed = b.value; });
  });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var api = form.getAttribute("data-api");
    var rows = picked().map(function (i) { return i.closest("tr"); });
    var note = document.getElementById("bulk-note").value;
    var out = document.getElementById("bulk-error");
    var done;
    if (pressed === "silence") {
      // One silence per distinct (rule, account, region, resource): what
      // "silence similar" pre-fills for each finding.
      var seen = {};
      var bodies = [];
      rows.forEach(function (r) {
        var m = { rule: r.dataset.rule, account: r.dataset.account, region: r.dataset.region, resource: r.dataset.resource };
        Object.keys(m).forEach(function (k) { if (!m[k]) { delete m[k]; } });
        var key = JSON.stringify(m);
        if (seen[key]) { return; }
        seen[key] = true;
        bodies.push({ matchers: m, comment: note, duration: document.getElementById("bulk-duration").value.trim() });
      });
      done = bodies.reduce(function (p, b) {
        return p.then(function () { return send("POST", api + "/silences", b); });
      }, Promise.resolve());
    } else {
      var ids = rows.map(function (r) { return r.dataset.id; });
      var body = { ids: ids };
      if (note) { body.note = note; }
      done = send("POST", api + "/findings/" + (pressed || "acknowledge"), body);
    }
    done.then(function () { window.location.reload(); }, function (err) { showError(out, err); });
  });
  update();
}

// live: the first page of the feed subscribes to the API's stream; new
// findings that match the page's filters appear at the top without moving
// what the reader is looking at, and status changes update their row.
function live() {
  var box = document.getElementById("live");
  var table = document.getElementById("findings");
  if (!box || !table || !window.EventSource) { return; }
  var f = box.dataset;
  var state = document.getElementById("live-state");
  var base = f.base;
  var triage = f.triage === "true";
  var added = 0;
  function matches(x) {
    var a = x.actor || {};
    var res = x.resource || {};
    if (f.minRisk && riskOrder.indexOf(x.risk) < riskOrder.indexOf(f.minRisk)) { return false; }
    if (f.rule && !glob(f.rule, x.rule_id)) { return false; }
    if (f.account && f.account !== x.account_id) { return false; }
    if (f.region && f.region !== x.region) { return false; }
    if (f.actor && !glob(f.actor, a.arn) && !glob(f.actor, a.name)) { return false; }
    if (f.outcome && f.outcome !== x.outcome) { return false; }
    if (f.service && f.service !== x.service) { return false; }
    if (f.method && f.method !== x.access_method) { return false; }
    if (f.status && f.status !== x.status) { return false; }
    if (f.silence && f.silence !== x.silenced_by) { return false; }
    if (f.since !== "0" && new Date(x.event_time).getTime() < Number(f.since)) { return false; }
    if (f.text) {
      var t = f.text.toLowerCase();
      var hay = [x.summary, a.arn, a.name, res.name, res.arn, x.event_name];
      if (!hay.some(function (h) { return (h || "").toLowerCase().indexOf(t) >= 0; })) { return false; }
    }
    return true;
  }
  function row(x) {
    var tr = document.createElement("tr");
    tr.dataset.id = x.id;
    tr.dataset.risk = x.risk;
    tr.dataset.rule = x.rule_id;
    tr.dataset.account = x.account_id || "";
    tr.dataset.region = x.region || "";
    tr.dataset.resource = (x.resource && (x.resource.arn || x.resource.name)) || "";
    tr.className = "fresh";
    if (triage) {
      var c = el("td");
      var box = el("input", "pick");
      box.type = "checkbox";
      box.value = x.id;
      box.setAttribute("aria-label", "select " + printable(x.summary));
      c.appendChild(box);
      tr.appendChild(c);
    }
    tr.appendChild(el("td", "nowrap", utc(x.event_time)));
    var r = el("td");
    r.appendChild(el("span", "badge risk-" + String(x.risk).toLowerCase(), x.risk));
    tr.appendChild(r);
    var s = el("td");
    var a = el("a", "", printable(x.summary));
    a.href = base + "/findings/" + encodeURIComponent(x.id);
    s.appendChild(a);
    s.appendChild(el("div", "muted", x.rule_id + " · " + printable(x.event_name)));
    tr.appendChild(s);
    var who = el("td", "", printable(x.actor && x.actor.name));
    who.appendChild(el("div", "muted", printable(x.access_method)));
    tr.appendChild(who);
    var where = el("td", "nowrap", printable(x.account_id));
    where.appendChild(el("div", "muted", printable(x.region)));
    tr.appendChild(where);
    tr.appendChild(el("td", "", printable(x.outcome)));
    var st = el("td", "status-cell");
    st.appendChild(el("span", "status status-" + x.status, x.status));
    tr.appendChild(st);
    return tr;
  }
  function say() {
    state.textContent = added === 0 ? "Live: new findings appear here." :
      (added === 1 ? "1 new finding since the page opened (at the top)." : added + " new findings since the page opened (at the top).");
  }
  var src = new EventSource(f.stream);
  src.addEventListener("open", say);
  src.addEventListener("error", function () { state.textContent = "Live: reconnecting…"; });
  src.addEventListener("finding", function (ev) {
    var x;
    try { x = JSON.parse(ev.data); } catch (e) { return; }
    if (!matches(x) || table.querySelector('tr[data-id="' + CSS.escape(x.id) + '"]')) { return; }
    var body = table.tBodies[0];
    // Keep what the reader looks at where it is: the page grows above
    // it by the new row's height, and the scroll position follows.
    var before = document.documentElement.scrollHeight;
    var y = window.scrollY;
    body.insertBefore(row(x), body.firstChild);
    table.hidden = false;
    var none = document.getElementById("no-findings");
    if (none) { none.hidden = true; }
    if (y > 0) { window.scrollTo(window.scrollX, y + document.documentElement.scrollHeight - before); }
    added++;
    say();
  });
  src.addEventListener("status", function (ev) {
    var c;
    try { c = JSON.parse(ev.data); } catch (e) { return; }
    var tr = table.querySelector('tr[data-id="' + CSS.escape(c.finding_id) + '"]');
    if (!tr) { return; }
    var s = tr.querySelector(".status");
    if (s) { s.textContent = c.to; s.className = "status status-" + c.to; }
  });
  window.addEventListener("pagehide", function () { src.close(); });
}
