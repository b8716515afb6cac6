// issuemesh console: keeps the page's live part current from the node's
// server-sent events, and asks before destructive actions. No framework.
(function () {
  "use strict";
  // Times: "12s ago", kept current; the server sends clock times.
  var ago = function () {
    var now = Date.now();
    document.querySelectorAll("time.ago").forEach(function (el) {
      var s = Math.round((now - Date.parse(el.getAttribute("datetime"))) / 1000);
      var text;
      if (s < 1) { text = "just now"; }
      else if (s < 60) { text = s + "s ago"; }
      else if (s < 3600) { text = Math.floor(s / 60) + "m" + (s % 60) + "s ago"; }
      else if (s < 86400) { text = Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m ago"; }
      else { text = Math.floor(s / 86400) + "d ago"; }
      if (el.textContent !== text) { el.textContent = text; }
    });
  };
  ago();
  setInterval(ago, 1000);
  var live = document.getElementById("live");
  var dot = document.getElementById("livedot");
  if (live && window.EventSource) {
    var connect = function () {
      var es = new EventSource("/events?page=" + encodeURIComponent(live.dataset.page));
      es.addEventListener("live", function (e) {
        live.innerHTML = e.data;
        ago();
        if (dot) { dot.className = "livedot on"; }
      });
      es.onopen = function () { if (dot) { dot.className = "livedot on"; } };
      es.onerror = function () {
        if (dot) { dot.className = "livedot off"; dot.title = "not connected to the node; retrying"; }
      };
    };
    connect();
  }
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });
})();
