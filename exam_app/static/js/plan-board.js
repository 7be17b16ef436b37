/* The planning board (templates/juries/plan_board.html): blocks placed by their minutes,
 * moved by drag and drop or by keyboard, swapped and pinned from the selection panel.
 *
 * Every change is one JSON POST (exam_app/juries/plan_board.py decides it); the answer's
 * message is announced in the live region, then the board is fetched again and put in
 * place (the server's rendering is the one truth: conflicts, versions, publication
 * state), focus kept on the moved block. No dependency. */
(function () {
  "use strict";
  var PPM = 1.4; // pixels per minute
  var live = document.getElementById("pb-live");
  var carried = null; // {block, track, start} while a block is carried by keyboard
  var dragged = null; // {block, grab} during a drag
  var selectedId = null;

  function board() { return document.getElementById("plan-board"); }
  function num(el, name) { return Number(el.getAttribute("data-" + name)); }
  function hm(minute) {
    var h = Math.floor(minute / 60), m = minute % 60;
    return (h < 10 ? "0" : "") + h + ":" + (m < 10 ? "0" : "") + m;
  }
  function announce(text) {
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function place(el, from, to, first) {
    el.style.top = ((from - first) * PPM) + "px";
    el.style.height = Math.max(0, (to - from) * PPM - 1) + "px";
  }

  function layout() {
    var root = board();
    if (!root) { return; }
    root.classList.add("pb--js");
    var first = num(root, "first"), last = num(root, "last");
    var height = (last - first) * PPM;
    Array.prototype.forEach.call(root.querySelectorAll(".pb-track"), function (track) {
      track.style.height = height + "px";
      Array.prototype.forEach.call(track.querySelectorAll(".pb-pause, .pb-line, .pb-hour"), function (el) { el.remove(); });
      for (var h = Math.ceil(first / 60) * 60; h <= last; h += 60) {
        var line = document.createElement("div");
        line.className = track.classList.contains("pb-track--axis") ? "pb-hour" : "pb-line";
        line.style.top = ((h - first) * PPM) + "px";
        if (line.className === "pb-hour") { line.textContent = hm(h); }
        track.appendChild(line);
      }
      Array.prototype.forEach.call(track.querySelectorAll(".pb-band"), function (band) {
        place(band, num(band, "from"), num(band, "to"), first);
      });
      lanes(track);
      Array.prototype.forEach.call(track.querySelectorAll(".pb-block"), function (block) {
        var start = num(block, "start"), end = start + num(block, "jury");
        place(block, start, end, first);
        var pause = document.createElement("div");
        pause.className = "pb-pause";
        pause.setAttribute("aria-hidden", "true");
        place(pause, end, end + num(block, "break"), first);
        track.appendChild(pause);
      });
    });
  }

  // Overlapping blocks (a conflict) stand side by side, so that none hides another.
  function lanes(track) {
    var blocks = Array.prototype.slice.call(track.querySelectorAll(".pb-block"));
    blocks.sort(function (x, y) { return num(x, "start") - num(y, "start"); });
    var group = [], groupEnd = -1;
    function flush() {
      var ends = [];
      group.forEach(function (b) {
        var lane = 0;
        while (ends[lane] !== undefined && ends[lane] > num(b, "start")) { lane += 1; }
        ends[lane] = num(b, "start") + num(b, "jury");
        b.setAttribute("data-lane", lane);
      });
      group.forEach(function (b) {
        var share = 100 / ends.length, lane = Number(b.getAttribute("data-lane"));
        b.style.left = ends.length > 1 ? "calc(" + (lane * share) + "% + 2px)" : "";
        b.style.width = ends.length > 1 ? "calc(" + share + "% - 4px)" : "";
        b.style.right = ends.length > 1 ? "auto" : "";
      });
      group = [];
    }
    blocks.forEach(function (b) {
      if (group.length && num(b, "start") >= groupEnd) { flush(); groupEnd = -1; }
      group.push(b);
      groupEnd = Math.max(groupEnd, num(b, "start") + num(b, "jury"));
    });
    flush();
  }

  function tracks(unit) {
    return Array.prototype.filter.call(board().querySelectorAll(".pb-track[data-commission]"), function (t) {
      return t.getAttribute("data-unit") === unit;
    });
  }

  // ---- selection panel ------------------------------------------------------------

  function select(block) {
    Array.prototype.forEach.call(document.querySelectorAll(".pb-block--selected"), function (b) {
      b.classList.remove("pb-block--selected");
    });
    var panel = document.getElementById("pb-panel");
    if (!block) { selectedId = null; panel.hidden = true; return; }
    selectedId = block.id;
    block.classList.add("pb-block--selected");
    panel.hidden = false;
    var track = block.parentNode;
    var why = document.getElementById("pb-why" + block.getAttribute("data-passage"));
    document.getElementById("pb-panel-text").textContent = block.getAttribute("data-label") + " — " +
      block.getAttribute("data-unit") + ", commission " + track.getAttribute("data-code") + ", " +
      hm(num(block, "start")) + "–" + hm(num(block, "start") + num(block, "jury")) +
      (why ? ". " + why.textContent : ".");
    document.getElementById("pb-pin").textContent = block.getAttribute("data-pinned") === "1" ? "Désépingler" : "Épingler";
    var swap = document.getElementById("pb-swap-with");
    swap.innerHTML = "";
    Array.prototype.forEach.call(board().querySelectorAll(".pb-block"), function (other) {
      if (other === block || other.getAttribute("data-unit") !== block.getAttribute("data-unit") ||
          other.getAttribute("data-variant") !== block.getAttribute("data-variant")) { return; }
      var option = document.createElement("option");
      option.value = other.getAttribute("data-passage");
      option.textContent = other.getAttribute("data-label") + " (" + other.parentNode.getAttribute("data-code") + ", " + hm(num(other, "start")) + ")";
      swap.appendChild(option);
    });
    document.getElementById("pb-swap").disabled = !swap.options.length;
  }

  // ---- sending a change -------------------------------------------------------------

  function refresh(focusId, then) {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("pb-area");
        var area = document.getElementById("pb-area");
        if (fresh && area) { area.replaceWith(document.importNode(fresh, true)); }
        layout();
        var block = focusId && document.getElementById(focusId);
        if (block) { select(block); block.focus(); }
        if (then) { then(block); }
      });
  }

  function send(url, body, focusId) {
    var root = board();
    body.centre_id = num(root, "centre");
    body.day = root.getAttribute("data-day");
    root.setAttribute("aria-busy", "true");
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": root.getAttribute("data-csrf") },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; }, function () { return { ok: false, data: {} }; });
    }).then(function (answer) {
      var message = answer.ok ? answer.data.message : "Refusé : " + (answer.data.message || "erreur du serveur.");
      refresh(focusId, function (block) {
        var why = block && document.getElementById("pb-why" + block.getAttribute("data-passage"));
        announce(message + (answer.ok && why ? " Conflit : " + why.textContent : ""));
      });
    }).catch(function () {
      announce("Le serveur ne répond pas : le passage n'a pas bougé.");
      refresh(focusId);
    });
  }

  function move(block, track, start) {
    send(board().getAttribute("data-move-url"), {
      passage_id: num(block, "passage"), version: num(block, "version"),
      commission_id: num(track, "commission"), start: start
    }, block.id);
  }

  // ---- keyboard -----------------------------------------------------------------------

  function showCarried() {
    var b = carried.block, first = num(board(), "first");
    if (b.parentNode !== carried.track) { carried.track.appendChild(b); b.focus(); }
    place(b, carried.start, carried.start + num(b, "jury"), first);
    announce(hm(carried.start) + ", commission " + carried.track.getAttribute("data-code") + ".");
  }

  function pickUp(block) {
    carried = { block: block, home: block.parentNode, track: block.parentNode, start: num(block, "start") };
    block.classList.add("pb-block--carried");
    select(block);
    announce("Passage de " + block.getAttribute("data-label") + " pris, " + hm(carried.start) +
      ". Flèches pour le déplacer, Entrée pour le poser, Échap pour annuler.");
  }

  function cancel(quiet) {
    if (!carried) { return; }
    var b = carried.block;
    if (b.parentNode !== carried.home) { carried.home.appendChild(b); }
    b.classList.remove("pb-block--carried");
    place(b, num(b, "start"), num(b, "start") + num(b, "jury"), num(board(), "first"));
    carried = null;
    b.focus();
    if (!quiet) { announce("Déplacement annulé."); }
  }

  function drop() {
    var c = carried;
    carried = null;
    c.block.classList.remove("pb-block--carried");
    if (c.track === c.home && c.start === num(c.block, "start")) { announce("Passage reposé à sa place."); return; }
    move(c.block, c.track, c.start);
  }

  document.addEventListener("keydown", function (event) {
    var block = event.target.closest && event.target.closest(".pb-block");
    if (!block) { return; }
    var step = num(board(), "step");
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      if (carried) { drop(); } else if (!block.classList.contains("pb-block--locked")) { pickUp(block); }
      else { select(block); announce("Ce passage a commencé : il ne se déplace plus."); }
      return;
    }
    if (!carried) { return; }
    if (event.key === "Escape") { event.preventDefault(); cancel(); return; }
    var root = board(), jury = num(block, "jury");
    if (event.key === "ArrowUp" || event.key === "ArrowDown") {
      event.preventDefault();
      var next = carried.start + (event.key === "ArrowUp" ? -step : step);
      carried.start = Math.max(num(root, "first"), Math.min(num(root, "last") - jury, next));
      showCarried();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      event.preventDefault();
      var list = tracks(block.getAttribute("data-unit"));
      var at = list.indexOf(carried.track) + (event.key === "ArrowLeft" ? -1 : 1);
      if (at < 0 || at >= list.length) { announce("Pas d'autre commission de cette épreuve de ce côté."); return; }
      carried.track = list[at];
      showCarried();
    }
  });

  document.addEventListener("focusout", function (event) {
    if (carried && event.target === carried.block) {
      window.setTimeout(function () {
        if (carried && document.activeElement !== carried.block) { cancel(true); }
      }, 0);
    }
  });

  document.addEventListener("click", function (event) {
    var block = event.target.closest && event.target.closest(".pb-block");
    if (block && event.detail !== 0) { select(block); return; }
    if (event.target.id === "pb-pin" && selectedId) {
      var b = document.getElementById(selectedId);
      send(board().getAttribute("data-pin-url"), {
        passage_id: num(b, "passage"), version: num(b, "version"), pinned: b.getAttribute("data-pinned") !== "1"
      }, b.id);
    } else if (event.target.id === "pb-swap" && selectedId) {
      var first = document.getElementById(selectedId);
      var second = document.getElementById("pb-p" + document.getElementById("pb-swap-with").value);
      if (!second) { return; }
      send(board().getAttribute("data-swap-url"), {
        first_id: num(first, "passage"), first_version: num(first, "version"),
        second_id: num(second, "passage"), second_version: num(second, "version")
      }, first.id);
    }
  });

  // ---- drag and drop ------------------------------------------------------------------

  function minuteAt(track, clientY) {
    var root = board(), step = num(root, "step");
    var top = track.getBoundingClientRect().top;
    var minute = num(root, "first") + (clientY - dragged.grab - top) / PPM;
    minute = Math.round(minute / step) * step;
    return Math.max(num(root, "first"), Math.min(num(root, "last") - num(dragged.block, "jury"), minute));
  }

  function indicator(track, minute) {
    var mark = document.querySelector(".pb-drop");
    if (!mark) {
      mark = document.createElement("div");
      mark.className = "pb-drop";
      mark.setAttribute("aria-hidden", "true");
      mark.appendChild(document.createElement("span"));
    }
    if (mark.parentNode !== track) { track.appendChild(mark); }
    mark.style.top = ((minute - num(board(), "first")) * PPM) + "px";
    mark.firstChild.textContent = hm(minute);
  }

  function clearIndicator() {
    var mark = document.querySelector(".pb-drop");
    if (mark) { mark.remove(); }
  }

  document.addEventListener("dragstart", function (event) {
    var block = event.target.closest && event.target.closest(".pb-block");
    if (!block || block.classList.contains("pb-block--locked")) { return; }
    dragged = { block: block, grab: event.clientY - block.getBoundingClientRect().top };
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", block.id);
    select(block);
  });

  document.addEventListener("dragover", function (event) {
    var track = event.target.closest && event.target.closest(".pb-track[data-commission]");
    if (!dragged || !track || track.getAttribute("data-unit") !== dragged.block.getAttribute("data-unit")) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    indicator(track, minuteAt(track, event.clientY));
  });

  document.addEventListener("drop", function (event) {
    var track = event.target.closest && event.target.closest(".pb-track[data-commission]");
    if (!dragged || !track) { return; }
    event.preventDefault();
    var block = dragged.block, minute = minuteAt(track, event.clientY);
    dragged = null;
    clearIndicator();
    if (track === block.parentNode && minute === num(block, "start")) { return; }
    move(block, track, minute);
  });

  document.addEventListener("dragend", function () { dragged = null; clearIndicator(); });

  layout();
})();
