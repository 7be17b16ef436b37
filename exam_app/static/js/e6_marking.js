// E6 marking grid: keyboard navigation, local bounds check, per-copy autosave.
// Saves of one copy are serialised (never two in flight, never out of order);
// the server refuses a save based on an old version (409) so two tabs cannot
// silently overwrite each other.
(function () {
  "use strict";
  var table = document.getElementById("marking");
  if (!table || table.dataset.editable !== "true") { return; }
  var csrf = table.dataset.csrf;
  var rows = Array.prototype.slice.call(table.querySelectorAll("tr.marking__row"));
  var summary = document.getElementById("save-summary");
  var unsaved = 0;

  function parse(text) {
    var t = text.trim().replace(",", ".");
    if (t === "") { return null; }
    if (!/^\d{1,2}(\.\d{1,2})?$/.test(t)) { return NaN; }
    return parseFloat(t);
  }
  function fr(n) { return String(Math.round(n * 100) / 100).replace(".", ","); }

  function setStatus(row, text, kind) {
    var cell = row.querySelector(".status");
    cell.textContent = text;
    cell.className = "status" + (kind ? " status--" + kind : "");
  }

  function check(row) {
    var ok = true, sum = 0, filled = 0;
    var inputs = row.querySelectorAll("input.points");
    inputs.forEach(function (input) {
      var v = parse(input.value), max = parseFloat(input.dataset.max);
      var bad = v !== null && (isNaN(v) || v < 0 || v > max);
      input.setAttribute("aria-invalid", bad ? "true" : "false");
      if (bad) { ok = false; return; }
      if (v !== null) { sum += v; filled += 1; }
    });
    row.querySelector(".total").textContent = filled === inputs.length ? fr(sum) : (filled ? "(" + fr(sum) + ")" : "—");
    return ok;
  }

  function payload(row) {
    var points = {};
    row.querySelectorAll("input.points").forEach(function (input) {
      points[input.dataset.question] = input.value.trim();
    });
    return { version: parseInt(row.dataset.version, 10), points: points,
             comment: row.querySelector("input.comment").value };
  }

  function save(row) {
    if (row.dataset.conflict) { return; }
    if (row.dataset.saving) { row.dataset.pending = "1"; return; }
    if (!check(row)) {
      var bad = row.querySelector('input[aria-invalid="true"]');
      var text = bad.value.trim();
      setStatus(row, "Erreur : " + (isNaN(parse(text)) ? "« " + text + " » n'est pas un nombre (ex. 12,5)"
        : text + " hors barème (0 à " + fr(parseFloat(bad.dataset.max)) + ")"), "error");
      return;
    }
    row.dataset.saving = "1";
    delete row.dataset.pending;
    setStatus(row, "Enregistrement…", "saving");
    fetch(row.dataset.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(payload(row))
    }).then(function (response) {
      return response.json().catch(function () { return { message: "Réponse illisible du serveur." }; })
        .then(function (data) { return { status: response.status, data: data }; });
    }).then(function (result) {
      delete row.dataset.saving;
      if (result.data.ok) {
        row.dataset.version = result.data.version;
        row.dataset.dirty = "";
        row.dataset.complete = result.data.complete ? "1" : "0";
        setStatus(row, result.data.complete ? "Enregistré — complète" : "Enregistré — incomplète", "ok");
        if (result.data.total) { row.querySelector(".total").textContent = result.data.total; }
        refreshSummary();
        if (row.dataset.pending) { save(row); }
        return;
      }
      if (result.status === 409) { row.dataset.conflict = "1"; }
      // Refusals use the one error shape: {error, message, field, details}.
      setStatus(row, "Non enregistré : " + (result.data.message || "erreur " + result.status), "error");
      if (result.data.field) {
        var input = row.querySelector('input[data-question="' + result.data.field + '"]');
        if (input) { input.setAttribute("aria-invalid", "true"); }
      }
    }).catch(function () {
      delete row.dataset.saving;
      row.dataset.pending = "";
      setStatus(row, "Non enregistré : connexion perdue, nouvel essai à la prochaine saisie.", "error");
    });
  }

  function refreshSummary() {
    var done = table.querySelectorAll(".status--ok").length;
    unsaved = rows.filter(function (r) { return r.dataset.dirty === "1"; }).length;
    // The count of fully marked copies stays in view after each save (issue 17).
    var complete = rows.filter(function (r) { return r.dataset.complete === "1"; }).length;
    if (summary) {
      summary.textContent = complete + " / " + rows.length + " copie(s) entièrement notée(s). " +
        (unsaved ? unsaved + " copie(s) en cours d'enregistrement." : "Toutes les saisies sont enregistrées.");
    }
    return done;
  }

  var timers = new WeakMap();
  function schedule(row, delay) {
    row.dataset.dirty = "1";
    clearTimeout(timers.get(row));
    timers.set(row, setTimeout(function () { save(row); }, delay));
  }

  function move(input, delta) {
    var row = input.closest("tr");
    var index = rows.indexOf(row) + delta;
    if (index < 0 || index >= rows.length) { return false; }
    var selector = input.classList.contains("comment") ? "input.comment"
      : 'input[data-question="' + input.dataset.question + '"]';
    var target = rows[index].querySelector(selector);
    target.focus();
    target.select();
    return true;
  }

  rows.forEach(function (row) {
    row.querySelectorAll("input").forEach(function (input) {
      input.addEventListener("input", function () { check(row); schedule(row, 700); });
      input.addEventListener("change", function () { schedule(row, 0); });
      input.addEventListener("focus", function () { input.select(); });
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === "ArrowDown") {
          event.preventDefault();
          if (row.dataset.dirty === "1") { schedule(row, 0); }
          move(input, 1);
        } else if (event.key === "ArrowUp") {
          event.preventDefault();
          if (row.dataset.dirty === "1") { schedule(row, 0); }
          move(input, -1);
        }
      });
    });
  });

  window.addEventListener("beforeunload", function (event) {
    if (rows.some(function (r) { return r.dataset.dirty === "1" || r.dataset.saving; })) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  var first = table.querySelector("input.points");
  if (first) { first.focus(); }
}());
