// trailwatch dashboard: progressive enhancement only; every page works
// without it.
"use strict";
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
