// Planification page: while the solver runs, its progress is fetched every 2 s and put in
// place of the run's section (no page reload: focus and scroll stay where they are).
// Once the run is over, the start button is enabled again. Without JS, reloading the
// page shows the same progress.
(function () {
  "use strict";
  var PERIOD = 2000;

  function refresh() {
    var current = document.getElementById("run");
    if (!current || !current.hasAttribute("data-running")) { return; }
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var section = fresh.getElementById("run");
        if (section) { current.replaceWith(document.importNode(section, true)); }
        var start = document.getElementById("run-start");
        var freshStart = fresh.getElementById("run-start");
        if (start && freshStart) { start.disabled = freshStart.disabled; }
      })
      .catch(function () { /* the next tick tries again */ })
      .then(function () { window.setTimeout(refresh, PERIOD); });
  }

  window.setTimeout(refresh, PERIOD);
})();
