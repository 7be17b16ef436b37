// Print pack page: poll the job's state and update the progress bar until it ends.
(function () {
  "use strict";
  var root = document.getElementById("pack");
  if (!root) { return; }
  var url = root.getAttribute("data-state-url");
  var bar = document.getElementById("pack-progress");
  var label = document.getElementById("pack-label");
  var error = document.getElementById("pack-error");
  var download = document.getElementById("pack-download");
  var regenerate = document.getElementById("pack-regenerate");
  var delay = 1000;

  function show(state) {
    bar.value = state.percent;
    bar.textContent = state.percent + " %";
    var strong = document.createElement("strong");
    strong.textContent = state.label;
    label.textContent = "État : ";
    label.appendChild(strong);
    if (state.total) {
      label.appendChild(document.createTextNode(" — " + state.done + " / " + state.total + " document(s)"));
    }
    error.hidden = !state.error;
    error.textContent = state.error || "";
    if (state.download_url) {
      download.querySelector("a").href = state.download_url;
      download.hidden = false;
    }
    regenerate.hidden = state.state === "pending" || state.state === "running";
  }

  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (state) {
        show(state);
        delay = 1000;
        if (state.state === "pending" || state.state === "running") {
          window.setTimeout(poll, delay);
        }
      })
      .catch(function () {
        // Network hiccup: try again, more slowly.
        delay = Math.min(delay * 2, 15000);
        window.setTimeout(poll, delay);
      });
  }

  var initial = root.getAttribute("data-state");
  if (initial === "pending" || initial === "running") { window.setTimeout(poll, delay); }
})();
