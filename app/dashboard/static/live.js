// Live updates without a reload: a page whose <main> names a JSON twin
// (data-live) polls it and writes each {"text": {id: value}} into the element
// with that id, as text only (never markup).
"use strict";
(function () {
  var main = document.querySelector("main[data-live]");
  if (!main || !window.fetch) { return; }
  var url = main.getAttribute("data-live");
  var every = 5000;
  function apply(data) {
    var text = (data && data.text) || {};
    Object.keys(text).forEach(function (id) {
      var el = document.getElementById(id);
      if (el && el.textContent !== text[id]) {
        el.textContent = text[id];
        el.setAttribute("data-updated", String(Date.now()));
        if (el.classList.contains("status")) { el.className = "status s-" + text[id]; }
      }
    });
    document.body.setAttribute("data-live-ok", String(Date.now()));
  }
  function tick() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(apply)
      .catch(function () { /* the next tick tries again */ });
  }
  var given = parseInt(main.getAttribute("data-every") || "", 10);
  if (given > 0) { every = given; }
  setInterval(tick, every);
})();
