/* The live board, updated in place (no page reload: focus and scroll stay).
 *
 * A long poll (data-wait-url, see exam_app/juries/push.py) answers as soon as one of
 * the day's passages changes, or after 30 s at most, with the board as it now stands; only
 * the cells whose text changed are rewritten. The overrun of a running step keeps
 * counting between answers. No dependency. */
(function () {
  "use strict";
  var root = document.getElementById("board");
  if (!root) { return; }

  var version = root.dataset.version;
  var live = {};            // passage id -> {elapsed, allowed, other_overrun} while running
  var liveAt = Date.now();  // browser time of the board that gave ``live``
  var failures = 0;

  function setText(el, text) {
    if (el && el.textContent !== String(text)) { el.textContent = text; }
  }

  function overrunText(seconds) {
    if (seconds < 1) { return "—"; }
    var s = Math.floor(seconds);
    return "+" + Math.floor(s / 60) + " min " + ("0" + (s % 60)).slice(-2) + " s";
  }

  function setOverrun(cell, seconds) {
    if (!cell) { return; }
    setText(cell, overrunText(seconds));
    cell.classList.toggle("board-late", seconds >= 1);
  }

  function fill(scope, values) {
    Array.prototype.forEach.call(scope.querySelectorAll("[data-k]"), function (el) {
      var key = el.getAttribute("data-k");
      if (Object.prototype.hasOwnProperty.call(values, key) && key !== "overrun") { setText(el, values[key]); }
    });
    // « 1 absent », « 2 absents »: a label agrees with its number.
    Array.prototype.forEach.call(scope.querySelectorAll("[data-plural-of]"), function (el) {
      var key = el.getAttribute("data-plural-of");
      if (!Object.prototype.hasOwnProperty.call(values, key)) { return; }
      setText(el, Number(values[key]) > 1 ? el.getAttribute("data-plural") : el.getAttribute("data-singular"));
    });
  }

  function apply(board) {
    var rows = document.querySelectorAll("[data-passage]");
    var known = {};
    Array.prototype.forEach.call(rows, function (row) { known[row.getAttribute("data-passage")] = row; });
    var stale = rows.length !== board.passages.length ||
      board.passages.some(function (p) { return !known[p.id]; });
    fill(document.querySelector("[data-totals]"), board.totals);
    setText(root.querySelector("[data-k=updated]"), board.updated);
    board.commissions.forEach(function (c) {
      var row = document.querySelector('[data-commission="' + c.id + '"]');
      if (!row) { stale = true; return; }
      fill(row, c);
      var late = row.querySelector("[data-k=late]");
      if (late) { late.classList.toggle("board-late", c.late > 0); }
    });
    live = {};
    liveAt = Date.now();
    board.passages.forEach(function (p) {
      var row = known[p.id];
      if (!row) { return; }
      row.setAttribute("data-state", p.state);
      fill(row, p);
      setOverrun(row.querySelector("[data-k=overrun]"), p.overrun);
      if (p.live) { live[p.id] = p.live; }
    });
    // A passage added, moved to another day or removed: say so, never reload by itself.
    document.getElementById("board-stale").hidden = !stale;
  }

  // The running steps' overrun, counted on between two answers.
  function tick() {
    var spent = (Date.now() - liveAt) / 1000;
    Object.keys(live).forEach(function (id) {
      var l = live[id];
      var row = document.querySelector('[data-passage="' + id + '"]');
      if (!row) { return; }
      var over = l.other_overrun + Math.max(0, l.elapsed + spent - l.allowed);
      setOverrun(row.querySelector("[data-k=overrun]"), over);
    });
  }

  function wait() {
    var url = root.dataset.waitUrl + "&depuis=" + encodeURIComponent(version);
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        failures = 0;
        version = data.version;
        apply(data.board);
        setText(document.getElementById("board-status").firstChild, "Mis à jour en direct — ");
        // Coalesce a burst of changes: at most one board per second.
        setTimeout(wait, data.retry_ms || 1000);
      })
      .catch(function () {
        failures += 1;
        setText(document.getElementById("board-status").firstChild, "Connexion perdue, nouvel essai… dernière mise à jour ");
        setTimeout(wait, Math.min(30000, 1000 * Math.pow(2, failures)));
      });
  }

  setInterval(tick, 1000);
  wait();
})();
