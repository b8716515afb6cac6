// issuemesh console: keeps the page's live part current from the node's
// server-sent events, and asks before destructive actions. No framework.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var dot = document.getElementById("livedot");
  if (live && window.EventSource) {
    var connect = function () {
      var es = new EventSource("/events?page=" + encodeURIComponent(live.dataset.page));
      es.addEventListener("live", function (e) {
        live.innerHTML = e.data;
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
