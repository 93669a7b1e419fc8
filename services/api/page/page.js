// Keeps the page current: the server renders #live; on each `picture` event (or, without
// EventSource or while it is down, every 20 s) we fetch the fresh fragment with If-None-Match.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var badge = document.getElementById("connection");
  var etag = live.getAttribute("data-etag") || "";
  var pollTimer = null;
  var pending = null;

  function show(state, text) {
    badge.setAttribute("data-state", state);
    badge.textContent = text;
  }

  function reload() {
    var headers = etag ? { "If-None-Match": etag } : {};
    return fetch("/page/live", { headers: headers, cache: "no-cache" })
      .then(function (r) {
        if (r.status !== 200) return;
        etag = r.headers.get("ETag") || "";
        return r.text().then(function (html) {
          live.setAttribute("aria-busy", "true");
          live.innerHTML = html;
          live.setAttribute("aria-busy", "false");
        });
      })
      .catch(function () { /* the next event or poll tries again */ });
  }

  function soon() {
    if (pending) return;
    pending = setTimeout(function () { pending = null; reload(); }, 250);
  }

  function startPolling() {
    if (pollTimer) return;
    show("polling", "updates: polling every 20 s");
    pollTimer = setInterval(reload, 20000);
  }

  function stopPolling() {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
  }

  function connect() {
    if (!("EventSource" in window)) { startPolling(); return; }
    var source = new EventSource("/v1/stream");
    source.addEventListener("open", function () { stopPolling(); show("live", "updates: live"); });
    source.addEventListener("picture", soon);  // sent at connect too: catches up at once
    source.addEventListener("alert", soon);
    source.addEventListener("error", function () {
      // The browser reconnects by itself (with Last-Event-ID); poll meanwhile.
      startPolling();
    });
  }

  // The page was rendered fresh; connect once it has settled. (A stream never finishes loading,
  // which would also keep headless renderers waiting for the page to be "ready".)
  show("static", "updates: starting…");
  setTimeout(connect, 6000);
})();
