// Live updates without a reload: a page whose <main> names a JSON twin
// (data-live) polls it and writes each {"text": {id: value}} into the element
// with that id, as text only (never markup). On the task list, rows of tasks
// the page does not show yet ({"rows": [...]}) are added at the top, built
// from elements and text nodes.
"use strict";
(function () {
  var main = document.querySelector("main[data-live]");
  if (!main || !window.fetch) { return; }
  var url = main.getAttribute("data-live");
  var every = parseInt(main.getAttribute("data-every") || "", 10) || 5000;

  function cell(row, text, id) {
    var td = document.createElement("td");
    if (id) { td.id = id; }
    td.textContent = text;
    row.appendChild(td);
    return td;
  }
  function link(href, text) {
    var a = document.createElement("a");
    a.setAttribute("href", href);
    a.textContent = text;
    return a;
  }
  function addRows(rows) {
    var body = document.querySelector("#tasks tbody");
    if (!body || !rows) { return; }
    rows.slice().reverse().forEach(function (t) {
      if (document.querySelector("tr[data-task='" + Number(t.id) + "']")) { return; }
      var tr = document.createElement("tr");
      tr.setAttribute("data-task", String(Number(t.id)));
      tr.className = "new";
      cell(tr, "").appendChild(link("/dashboard/tasks/" + Number(t.id), t.title));
      var status = document.createElement("span");
      status.id = "task-" + Number(t.id) + "-status";
      status.className = "status s-" + t.status;
      status.textContent = t.status;
      cell(tr, "").appendChild(status);
      cell(tr, t.repository);
      cell(tr, "").appendChild(link(t.issue_url, t.issue));
      var prs = cell(tr, "");
      (t.prs || []).forEach(function (u) { prs.appendChild(link(u, "PR")); });
      cell(tr, t.requester);
      cell(tr, t.attempt, "task-" + Number(t.id) + "-attempt");
      cell(tr, t.age);
      cell(tr, t.in_state, "task-" + Number(t.id) + "-in-state");
      body.insertBefore(tr, body.firstChild);
    });
  }
  function apply(data) {
    if (!data) { return; }
    if (main.getAttribute("data-live-rows") === "yes") { addRows(data.rows); }
    var text = data.text || {};
    Object.keys(text).forEach(function (id) {
      var el = document.getElementById(id);
      if (el && el.textContent !== text[id]) {
        el.textContent = text[id];
        if (el.classList.contains("status")) { el.className = "status s-" + text[id]; }
      }
    });
    main.setAttribute("data-live-ok", String(Date.now()));
  }
  function tick() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(apply)
      .catch(function () { /* the next tick tries again */ });
  }
  setInterval(tick, every);
})();
