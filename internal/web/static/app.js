// trailwatch dashboard: progressive enhancement only; every page works
// without it.
"use strict";
// changeHeaders are the headers of a change sent to the API: JSON, and the
// session's CSRF token when the page has one.
function changeHeaders() {
  var h = { "Content-Type": "application/json" };
  var m = document.querySelector('meta[name="csrf-token"]');
  if (m) { h["X-CSRF-Token"] = m.getAttribute("content"); }
  return h;
}
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var el = document.getElementById(b.getAttribute("data-copy"));
      if (!el || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(el.textContent).then(function () {
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = "Copy"; }, 1500);
      }, function () { b.textContent = "Copy failed"; });
    });
  });
  // Triage: the buttons send the change to the API (same origin, JSON),
  // then the page shows the new status and history.
  var triage = document.getElementById("triage-form");
  if (triage) {
    var pressed = null;
    triage.querySelectorAll("button[name=do]").forEach(function (b) {
      b.addEventListener("click", function () { pressed = b.value; });
    });
    triage.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var action = pressed || "acknowledge";
      var note = document.getElementById("note").value;
      var out = document.getElementById("triage-error");
      fetch(triage.getAttribute("data-action") + action, {
        method: "POST", credentials: "same-origin",
        headers: changeHeaders(),
        body: JSON.stringify(note ? { note: note } : {})
      }).then(function (r) {
        if (r.ok) { window.location.reload(); return; }
        return r.json().then(function (e) {
          out.textContent = (e.error && e.error.message) || ("the change was refused: " + r.status);
          out.hidden = false;
        });
      }, function () { out.textContent = "the server could not be reached"; out.hidden = false; });
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
});
