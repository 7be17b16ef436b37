/* The passage screen: server-authoritative timer, debounced autosave with an
 * offline queue (localStorage, idempotent operation ids), per-field versions
 * and conflicts, reveal, gaps and joint validation. No dependency.
 *
 * The sync banner never says "tout est enregistré" unless it is: a refused value
 * stays on its field with the server's message; a transient failure (network,
 * 5xx) keeps the queue and retries with backoff; an operation id once sent is
 * never given another value; only newer server versions are applied; an expired
 * login says so and keeps the queue (localStorage) for after the new login. */
(function () {
  "use strict";
  var root = document.getElementById("jury");
  if (!root) { return; }

  var cfg = root.dataset;
  var me = parseInt(cfg.me, 10);
  var queueKey = "jury-queue:" + cfg.passage + ":" + me;
  var refusedKey = "jury-refused:" + cfg.passage + ":" + me;
  // The last state applied, for a reload while offline when the service worker's copy is
  // missing (a cache entry being replaced is absent meanwhile; the login page empties it).
  var keptStateKey = "jury-state:" + cfg.passage + ":" + me;
  var pollMs = parseInt(cfg.pollMs, 10) || 2000;
  var clockKey = "jury-clock";  // the last offset, for a reload while offline
  var offset = (function () {  // server clock minus browser clock (ms)
    try { return JSON.parse(localStorage.getItem(clockKey)).offset || 0; } catch (e) { return 0; }
  })();
  var state = null;          // last state from the server
  // The passage's live version whose whole state the page holds: the last state applied,
  // or the page's own save when nothing else changed since (its push is then no news).
  var seenVersion = -1;
  // A pushed version that came while a save was in flight: that save's answer may say it
  // is the page's own (its push can arrive first); decided when the save is answered.
  var pushedDuringSave = -1;
  var stateAt = 0;           // browser time when it arrived (ms)
  var online = true;          // the last poll got through
  var inflight = false;
  var failing = false;        // the last save failed for a transient reason (retrying)
  var attempts = 0;           // consecutive transient failures (backoff)
  var retryTimer = null;
  var expired = false;        // the login expired: nothing is sent until the new login
  var stalePage = false;      // logged in, but this page's token is older: reload it
  var conflicts = {};        // "grid|field" -> server {value, version}
  var known = { commune: {}, perso: {} };  // field -> last reconciled server version
  var timers = {};           // debounce timers per "grid|field"
  var beeped = {};
  var lastAnnounce = null;
  var $ = function (id) { return document.getElementById(id); };

  // ---- the operation queue (persisted, survives a reload) -------------------
  function loadQueue() {
    try { return JSON.parse(localStorage.getItem(queueKey)) || []; } catch (e) { return []; }
  }
  var queue = loadQueue();
  // Values the server refused, by "grid|field": {value, message}; kept until the juror edits.
  var refused = (function () {
    try { return JSON.parse(localStorage.getItem(refusedKey)) || {}; } catch (e) { return {}; }
  })();
  function persist() {
    try {
      localStorage.setItem(queueKey, JSON.stringify(queue));
      localStorage.setItem(refusedKey, JSON.stringify(refused));
    } catch (e) { /* private mode */ }
  }
  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // An op once sent keeps its value for ever (its id may already be applied on the
  // server, the response lost): later typing goes into a new op, based on the same version
  // and rebased when the first one's result arrives.
  function enqueue(grid, field, value) {
    for (var i = 0; i < queue.length; i++) {
      var op = queue[i];
      if (op.grid === grid && op.field === field && !op.sent) { op.value = value; persist(); return; }
    }
    var base = known[grid][field];
    queue.push({ op: newId(), grid: grid, field: field, value: value, base: base === undefined ? 0 : base });
    persist();
  }

  function plural(n) { return n + " modification" + (n > 1 ? "s" : ""); }

  // The banner: the truth at this moment, each state in its own words.
  function showNet() {
    var el = $("net-status");
    var n = queue.length + Object.keys(timers).length;
    var refusedKeys = Object.keys(refused);
    var text, kind, link = false;
    if (expired || stalePage) {
      text = (expired ? "Session expirée — reconnectez-vous" : "Page expirée — rechargez la page") +
        " ; vos modifications sont gardées" +
        (queue.length ? " (" + plural(queue.length) + " en attente)" : "") + ".";
      kind = "expired"; link = true;
    } else if (refusedKeys.length) {
      text = "Refusé : " + refusedKeys.map(function (key) {
        var parts = key.split("|");
        return "« " + labelOf(parts[0], parts[1]) + " » — " + refused[key].message;
      }).join(" ; ") + " Corrigez la valeur : elle n'est pas enregistrée." +
        (n ? " " + plural(n) + " en attente." : "");
      kind = "refused";
    } else if (Object.keys(conflicts).length) {
      text = "Conflit : un champ a été modifié par l'autre juré — choisissez la valeur à garder";
      kind = "conflict";
    } else if (!online || failing) {
      text = n ? "Hors ligne / en attente — " + plural(n) :
        "Hors ligne — aucune modification en attente";
      kind = "offline";
    } else if (n) {
      text = "Enregistrement en cours — " + plural(n) + " en attente";
      kind = "saving";
    } else {
      text = "Connecté — tout est enregistré";
      kind = "ok";
    }
    el.textContent = text;
    if (link) {
      var a = document.createElement("a");
      a.href = expired ? cfg.loginUrl : window.location.href;
      a.textContent = expired ? "Se reconnecter" : "Recharger la page";
      el.appendChild(document.createTextNode(" "));
      el.appendChild(a);
    }
    el.className = "net-status net-status--" + kind;
    el.dataset.state = kind;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cfg.csrf, "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.redirected && /\/connexion/.test(response.url)) {
        var auth = new Error("Session expirée");
        auth.status = 401; auth.code = "session_expired";
        throw auth;
      }
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok || data === null) {
          data = data || {};
          var error = new Error(data.message || data.error || ("Erreur " + response.status));
          error.status = response.ok ? 502 : response.status;  // not JSON: a proxy's page
          error.code = data.error;
          error.field = data.field;
          throw error;
        }
        return data;
      });
    });
  }

  // A failure that may pass by itself: no answer, or the server (or a proxy) unavailable.
  function isTransient(error) {
    return !error.status || error.status >= 500 || error.status === 408 || error.status === 429;
  }

  function retryLater() {
    failing = true;
    attempts += 1;
    clearTimeout(retryTimer);
    var delay = Math.min(1000 * Math.pow(2, attempts - 1), 15000);
    retryTimer = setTimeout(function () { retryTimer = null; flush(); }, delay);
  }

  function retryNow() {
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
    flush();
  }

  function setExpired(value) {
    if (expired === value) { return; }
    expired = value;
    if (value) { say("Session expirée — reconnectez-vous ; vos modifications sont gardées."); }
    showNet();
  }

  // The server refused ``ops`` (4xx): drop them from the queue, never retry them, and keep
  // the juror's value on the field with the reason until the juror changes it.
  function refuse(grid, ops, message) {
    ops.forEach(function (op) {
      remove(op.op);
      var key = grid + "|" + op.field;
      var later = queue.some(function (o) { return o.grid === grid && o.field === op.field; });
      if (!later && !timers[key]) { refused[key] = { value: op.value, message: message }; }
    });
    persist();
    renderRefused();
  }

  function flush() {
    if (inflight || retryTimer || expired || stalePage || !queue.length) { showNet(); return; }
    // One op per field per request: a second edit of a field waits for the first.
    var grid = queue[0].grid;
    var seen = {};
    var batch = queue.filter(function (op) {
      if (op.grid !== grid || seen[op.field]) { return false; }
      seen[op.field] = true;
      return true;
    }).slice(0, 50);
    batch.forEach(function (op) { op.sent = true; });
    persist();
    inflight = true;
    showNet();
    post(grid === "commune" ? cfg.saveCommune : cfg.savePerso, {
      ops: batch.map(function (op) { return { op: op.op, field: op.field, value: op.value, base: op.base }; })
    }).then(function (data) {
      failing = false; attempts = 0;
      setOnline(true);
      data.results.forEach(function (result) { applyResult(grid, result); });
      if (state && data.revision !== null && data.revision !== undefined) {
        state.passage.revision = Math.max(state.passage.revision, data.revision);
      }
      // The server gives the passage's version after this save when the save changed only
      // its fields and the revision (both applied just above). Right after the version the
      // page holds, nothing else happened in between: the push this save sends to the page
      // brings nothing to read. Any other version (the other juror's change in between, a
      // validation cleared: null) leaves seenVersion as is, and the push reads the state.
      if (typeof data.live_version === "number" && data.live_version === seenVersion + 1) {
        seenVersion = data.live_version;
      }
    }).catch(function (error) {
      // The ops stay "sent": if they come back, it is with the same id and value.
      if (!isTransient(error)) { failing = false; attempts = 0; }  // the server answered
      if (error.status === 401) {
        setExpired(true);
      } else if (error.code === "csrf") {
        reloadForToken();
      } else if (isTransient(error)) {
        retryLater();
      } else {
        // Refused: the op of the named field, or the whole batch when no field is named.
        // Nothing of the batch was stored; the others go again.
        var hit = batch.filter(function (op) { return error.field && op.field === error.field; });
        refuse(grid, hit.length ? hit : batch, error.message);
      }
    }).then(function () {
      inflight = false;
      if (pushedDuringSave > seenVersion) { pollNow(); }
      pushedDuringSave = -1;
      persist();
      showNet();
      if (!failing && !expired && !stalePage && queue.length) { setTimeout(flush, 0); }
    });
  }

  // The page's CSRF token belongs to an older login: reload (the queue is in localStorage).
  function reloadForToken() {
    var guard = "jury-reload:" + cfg.passage;
    var last = parseInt(sessionStorage.getItem(guard) || "0", 10);
    if (Date.now() - last < 30000) { stalePage = true; showNet(); return; }
    sessionStorage.setItem(guard, String(Date.now()));
    keepTyping();
    window.location.reload();
  }

  // Put the debounced edits into the (persisted) queue without sending them.
  function keepTyping() {
    Object.keys(timers).forEach(function (key) {
      clearTimeout(timers[key]);
      delete timers[key];
      var parts = key.split("|");
      enqueue(parts[0], parts[1], readField(parts[0], parts[1]));
    });
  }

  // Send the debounced edits now (before validating).
  function saveNow() {
    keepTyping();
    flush();
  }

  function remove(opId) {
    queue = queue.filter(function (op) { return op.op !== opId; });
  }

  function applyResult(grid, result) {
    var sent = queue.filter(function (op) { return op.op === result.op; })[0];
    remove(result.op);
    var key = grid + "|" + result.field;
    if (result.status === "ok") {
      var oldBase = sent ? sent.base : undefined;
      known[grid][result.field] = result.version;
      // Later edits of the same field were based on this one.
      queue.forEach(function (op) {
        if (op.grid === grid && op.field === result.field && op.base === oldBase) { op.base = result.version; }
      });
      delete conflicts[key];
      renderConflicts();
    } else if (result.status === "conflict") {
      // Drop later local edits of the field too: the juror decides explicitly.
      var mine = queue.filter(function (op) { return op.grid === grid && op.field === result.field; });
      queue = queue.filter(function (op) { return !(op.grid === grid && op.field === result.field); });
      conflicts[key] = { value: result.value, version: result.version,
        mine: mine.length ? mine[mine.length - 1].value : (sent ? sent.value : "") };
      renderConflicts();
    }
  }

  // ---- fields ----------------------------------------------------------------
  function fieldsOf(grid) {
    var form = document.querySelector('.grid-form[data-grid="' + grid + '"]');
    return form ? form.querySelectorAll("[data-field]") : [];
  }
  function readField(grid, name) {
    var value = "";
    Array.prototype.forEach.call(fieldsOf(grid), function (el) {
      if (el.dataset.field !== name) { return; }
      if (el.type === "radio") { if (el.checked) { value = el.value; } } else { value = el.value; }
    });
    return value;
  }
  function writeField(grid, name, value) {
    Array.prototype.forEach.call(fieldsOf(grid), function (el) {
      if (el.dataset.field !== name) { return; }
      if (el.type === "radio") { el.checked = el.value === value; } else if (el.value !== value) { el.value = value; }
    });
  }
  function isPending(grid, name) {
    var key = grid + "|" + name;
    if (timers[key] || conflicts[key] || refused[key]) { return true; }
    return queue.some(function (op) { return op.grid === grid && op.field === name; });
  }

  function onEdit(event) {
    var el = event.target;
    if (!el.dataset || !el.dataset.field) { return; }
    // Radios save on "change", text on "input" ("change" on blur would save twice).
    if ((el.type === "radio") !== (event.type === "change")) { return; }
    var grid = el.closest(".grid-form").dataset.grid;
    var name = el.dataset.field;
    var key = grid + "|" + name;
    if (refused[key]) { delete refused[key]; persist(); renderRefused(); }  // the juror changes it
    clearTimeout(timers[key]);
    var delay = el.type === "radio" ? 0 : 700;
    timers[key] = setTimeout(function () {
      delete timers[key];
      enqueue(grid, name, readField(grid, name));
      flush();
    }, delay);
    showNet();
  }

  function renderConflicts() {
    document.querySelectorAll("[data-conflicts]").forEach(function (box) { box.textContent = ""; });
    Object.keys(conflicts).forEach(function (key) {
      var parts = key.split("|");
      var grid = parts[0], name = parts[1], c = conflicts[key];
      var box = document.querySelector('.grid-form[data-grid="' + grid + '"] [data-conflicts]');
      if (!box) { return; }
      var p = document.createElement("p");
      p.className = "conflict";
      p.textContent = "Conflit sur « " + labelOf(grid, name) + " » : l'autre juré a enregistré « " +
        (c.value || "vide") + " », vous aviez saisi « " + (c.mine || "vide") + " ». ";
      var keep = document.createElement("button");
      keep.type = "button"; keep.className = "button"; keep.textContent = "Garder ma valeur";
      keep.addEventListener("click", function () {
        delete conflicts[key];
        known[grid][name] = c.version;
        writeField(grid, name, c.mine);
        enqueue(grid, name, c.mine);
        renderConflicts(); flush();
      });
      var take = document.createElement("button");
      take.type = "button"; take.className = "button"; take.textContent = "Prendre la sienne";
      take.addEventListener("click", function () {
        delete conflicts[key];
        known[grid][name] = c.version;
        writeField(grid, name, c.value);
        renderConflicts(); showNet();
      });
      p.appendChild(keep); p.appendChild(document.createTextNode(" ")); p.appendChild(take);
      box.appendChild(p);
    });
    showNet();
  }

  // Each refused field: aria-invalid, and its message in an element it names in
  // aria-describedby; cleared when the juror changes the value.
  function errorBox(grid, name, el) {
    var form = el.closest(".grid-form");
    var box = form.querySelector('[data-error-for="' + name + '"]');
    if (box) { return box; }
    box = document.createElement("p");
    box.className = "field__error";
    box.id = grid + "-" + name.replace(/[^A-Za-z0-9_-]/g, "-") + "-error";
    box.dataset.errorFor = name;
    box.hidden = true;
    var row = el.closest("tr");
    if (row && el.type === "radio") { row.querySelector("th").appendChild(box); } else { el.insertAdjacentElement("afterend", box); }
    return box;
  }
  function renderRefused() {
    document.querySelectorAll(".grid-form").forEach(function (form) {
      var grid = form.dataset.grid;
      Array.prototype.forEach.call(form.querySelectorAll("[data-field]"), function (el) {
        var name = el.dataset.field;
        var r = refused[grid + "|" + name];
        var existing = form.querySelector('[data-error-for="' + name + '"]');
        if (!r && !existing) { return; }
        var box = errorBox(grid, name, el);
        var ids = (el.getAttribute("aria-describedby") || "").split(" ").filter(function (id) { return id && id !== box.id; });
        if (r) {
          box.textContent = "Valeur refusée : " + r.message + " Elle n'est pas enregistrée.";
          box.hidden = false;
          el.setAttribute("aria-invalid", "true");
          ids.push(box.id);
        } else {
          box.textContent = "";
          box.hidden = true;
          el.removeAttribute("aria-invalid");
        }
        if (ids.length) { el.setAttribute("aria-describedby", ids.join(" ")); } else { el.removeAttribute("aria-describedby"); }
      });
    });
    if (state) { renderValidation(state); }
    showNet();
  }

  function labelOf(grid, name) {
    if (name === "mark") { return "Note proposée"; }
    if (name === "appreciation") { return "Appréciation globale"; }
    var row = document.querySelector('.grid-form[data-grid="' + grid + '"] [data-row="' + name + '"] th');
    if (row) { return row.textContent; }
    return "Commentaire";
  }

  // Apply the server's grid values, except fields with local edits in progress or a
  // refused value; only a version newer than the page's (a late poll never reverts).
  function applyGrid(grid, fields) {
    if (!fields) { return; }
    Object.keys(fields).forEach(function (name) {
      var f = fields[name];
      var first = known[grid][name] === undefined;
      if (isPending(grid, name)) {
        if (first) {
          // After a reload, show the edits still waiting in the queue, or the refused value
          // (a field being typed in before the first state keeps what is typed).
          known[grid][name] = f.version;
          var queued = queue.filter(function (op) { return op.grid === grid && op.field === name; });
          var kept = refused[grid + "|" + name];
          if (queued.length || kept) { writeField(grid, name, queued.length ? queued[queued.length - 1].value : kept.value); }
        }
        return;
      }
      if (first || f.version > known[grid][name]) {
        var el = document.activeElement;
        var editing = el && el.dataset && el.dataset.field === name && el.type !== "radio" &&
          el.closest(".grid-form").dataset.grid === grid && el.value !== f.value && !first;
        if (editing) { return; }  // the next keystroke will save with the old base: conflict shown
        known[grid][name] = f.version;
        writeField(grid, name, f.value);
      }
    });
  }

  function setDisabled(grid, disabled) {
    Array.prototype.forEach.call(fieldsOf(grid), function (el) { el.disabled = disabled; });
  }

  // ---- state, timer ---------------------------------------------------------
  function fmt(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var text = ("0" + Math.floor(s / 60)).slice(-2) + ":" + ("0" + (s % 60)).slice(-2);
    return text;
  }
  function serverNow() { return Date.now() + offset; }

  // ---- the server clock (issue 11, item 9) -----------------------------------
  // The server stamps its time somewhere between our send and our receipt, so each
  // exchange says: offset = server - midpoint, give or take half the round trip. A slow
  // exchange (3 s queued before or after the server) says little; the best sample is the
  // one with the smallest bound, its bound growing slowly with age (clock drift), and a
  // new sample moves the clock only when its bound is smaller — or when it contradicts
  // the best one (a clock was set, the laptop slept): then it starts again from it.
  var CLOCK_MAX_RTT = 10000;  // ms: slower says nothing useful once there is a sample
  var CLOCK_DRIFT = 1e-4;     // a sample's bound grows by 100 ppm of its age (6 ms a minute)
  var CLOCK_SLACK = 50;       // ms of tolerance before two samples contradict each other
  var clockBest = null;       // {offset, bound, at} (at: browser time of the receipt)
  var clockProbing = 0;       // browser time of the last probe
  function clockSample(sentAt, receivedAt, serverTime) {
    var rtt = receivedAt - sentAt;
    if (typeof serverTime !== "number" || !(rtt >= 0)) { return; }
    var sample = { offset: serverTime - (sentAt + receivedAt) / 2, bound: rtt / 2, at: receivedAt };
    if (clockBest) {
      var aged = clockBest.bound + Math.abs(receivedAt - clockBest.at) * CLOCK_DRIFT;
      var contradicts = Math.abs(sample.offset - clockBest.offset) > sample.bound + aged + CLOCK_SLACK;
      if (!contradicts && (sample.bound >= aged || rtt > CLOCK_MAX_RTT)) { clockProbe(); return; }
    }
    clockBest = sample;
    offset = sample.offset;
    root.dataset.clockOffset = String(Math.round(offset));
    root.dataset.clockBound = String(Math.round(sample.bound));
    try { localStorage.setItem(clockKey, JSON.stringify({ offset: offset })); } catch (e) { /* private mode */ }
    // The displayed clock follows the correction at once, not at the next tick (250 ms
    // later, more on a busy tablet): the screen never shows a time from the old offset
    // once the new one is known (a slow first poll's offset can be 1.5 s out).
    renderTimer();
    clockProbe();
  }
  // When the best bound is poor (every poll slow), ask the server's bare clock, which
  // answers at once when only the heavier requests are slow (at most every 10 s).
  function clockProbe() {
    if (!cfg.clockUrl || (clockBest && clockBest.bound <= 250)) { return; }
    var now = Date.now();
    if (now - clockProbing < 10000) { return; }
    clockProbing = now;
    var sentAt = Date.now();
    fetch(cfg.clockUrl, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { clockSample(sentAt, Date.now(), data.server_time); } })
      .catch(function () { /* the polls go on */ });
  }

  function poll() {
    var sentAt = Date.now();
    fetch(cfg.stateUrl, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401 || (response.redirected && /\/connexion/.test(response.url))) {
          var auth = new Error("auth"); auth.status = 401; throw auth;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        if (response.headers.get("X-Jury-Offline") === "1") {
          // The service worker's copy of the last state (page reloaded offline): shown
          // until a real answer, with the clock offset kept from before the reload.
          return response.json().then(function (data) {
            if (!state) { applyState(data, Date.now()); }
            var offline = new Error("offline"); offline.status = 0; throw offline;
          });
        }
        return response.json();
      })
      .then(function (data) {
        var receivedAt = Date.now();
        if (expired) {
          // Logged in again (another tab): this page's token is stale; reload, queue kept.
          keepTyping(); persist(); window.location.reload(); return;
        }
        clockSample(sentAt, receivedAt, data.server_time);
        setOnline(true);
        applyState(data, receivedAt);
        if (queue.length) { flush(); }
      })
      .catch(function (error) {
        if (error.status === 401) { setExpired(true); return; }
        if (!state) {  // reloaded offline without the worker's copy: the page's own
          var kept = keptState();
          if (kept) { applyState(kept, Date.now()); }
        }
        setOnline(false);
      })
      .then(pollDone);
  }

  // ---- push: the other juror's changes, at once (exam_app/juries/push.py) ----------
  // A long poll answers as soon as the passage changes; the page then polls its state
  // at once through poll() (same ordering and refusal rules, and a clock sample), unless
  // the page already holds that version (its own save: seenVersion; a push that comes
  // while a save is in flight waits for its answer: pushedDuringSave). While the push
  // works, the regular poll slows to pushPollMs: it still gives clock samples.
  var pushPollMs = Math.max(pollMs, parseInt(cfg.pushPollMs, 10) || 5000);
  var pushLive = false;
  var pushFailures = 0;
  var pollTimer = null;
  var pollBusy = false;
  var pollAgain = false;

  function runPoll() { pollTimer = null; pollBusy = true; poll(); }
  function pollDone() {
    pollBusy = false;
    if (pollAgain) { pollAgain = false; runPoll(); return; }
    pollTimer = setTimeout(runPoll, pushLive ? pushPollMs : pollMs);
  }
  function pollNow() {
    if (pollBusy) { pollAgain = true; return; }
    if (pollTimer) { clearTimeout(pollTimer); }
    runPoll();
  }

  function pushWait(version) {
    fetch(cfg.waitUrl + "?depuis=" + encodeURIComponent(version), {
      credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (response.redirected || !response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(function (data) {
      pushFailures = 0;
      pushLive = !data.retry_ms;  // over the server's cap of waiters: plain polling
      var version = parseInt(data.version, 10);
      if (data.changed && !(version <= seenVersion)) {
        if (!inflight || isNaN(version)) { pollNow(); } else { pushedDuringSave = Math.max(pushedDuringSave, version); }
      }
      setTimeout(function () { pushWait(data.version); }, data.retry_ms || 0);
    }).catch(function () {
      // Offline, expired login, server restarting: the regular poll says which and keeps
      // the page true meanwhile; the push comes back with backoff.
      pushLive = false;
      pushFailures += 1;
      setTimeout(function () { pushWait(version); }, Math.min(30000, 1000 * Math.pow(2, pushFailures)));
    });
  }

  function setOnline(value) {
    var back = value && !online;
    online = value;
    if (back && failing) { attempts = 0; retryNow(); }  // the network is back: no need to wait
    showNet();
  }

  function keptState() {
    try { return JSON.parse(localStorage.getItem(keptStateKey)); } catch (e) { return null; }
  }

  function applyState(data, receivedAt) {
    // Answers can arrive out of order (a slow poll sent before the juror started the
    // timer lands after the start's own answer): a state older than the one shown is
    // dropped. Every change of the passage bumps its version (juries/locking.py).
    if (state && typeof data.version === "number" && data.version < state.version) { return; }
    if (data.timer && data.passage && data.grids) {  // a whole state (not a validation's answer)
      try { localStorage.setItem(keptStateKey, JSON.stringify(data)); } catch (e) { /* full */ }
    }
    // The revision only grows: a poll sent before our last save must not lower it.
    if (state && state.passage.revision > data.passage.revision) { data.passage.revision = state.passage.revision; }
    state = data;
    stateAt = receivedAt;
    if (typeof data.version === "number" && data.version > seenVersion) { seenVersion = data.version; }
    var p = data.passage;
    var locked = p.final || p.blocked || p.absent;
    var grids = data.grids;
    applyGrid("commune", grids.agreed);
    applyGrid("perso", grids.own);
    setDisabled("commune", locked);
    setDisabled("perso", locked || grids.own_revealed);
    var reveal = $("btn-reveal");
    if (reveal) {
      reveal.hidden = grids.own_revealed;
      $("perso-visibility").textContent = grids.own_revealed ?
        (grids.other ? "Les deux grilles sont dévoilées." : "Dévoilée — en attente de l'autre juré.") :
        "Visible par vous seul jusqu'à ce que les deux jurés la dévoilent.";
    }
    renderGaps(grids);
    renderValidation(data);
    var status = $("passage-status");
    // During an incident pause the tag says so (issue 17).
    var tag = p.status === "running" && data.timer && data.timer.status === "paused" ? "paused" : p.status;
    status.textContent = { upcoming: "À venir", running: "En cours", paused: "En pause", finished: "Terminé", absent: "Absent", nv: "NV" }[tag];
    status.className = "tag state state--" + tag;
    renderTimer();
  }

  // The validation answers what it changed (its version, the passage's finality, final
  // mark and revision, the validations), merged into the state shown; the push (the
  // version moved) then brings the whole state, as for any change of the passage.
  function applyValidation(data) {
    if (!state || (typeof data.version === "number" && data.version < state.version)) { return; }
    applyState(Object.assign({}, state, {
      version: data.version,
      passage: Object.assign({}, state.passage, data.passage),
      validations: data.validations
    }), stateAt);
    if (!pushLive) { pollNow(); }
  }

  function renderGaps(grids) {
    var section = $("gaps");
    if (!section) { return; }
    section.hidden = !grids.other;
    if (!grids.other) { return; }
    section.querySelectorAll("[data-gap]").forEach(function (row) {
      var name = row.dataset.gap;
      var mine = ((grids.own[name] || {}).value || "—").replace(".", ",");
      var theirs = ((grids.other[name] || {}).value || "—").replace(".", ",");
      row.querySelector("[data-mine]").textContent = mine;
      row.querySelector("[data-theirs]").textContent = theirs;
      var diff = row.querySelector("[data-diff]");
      diff.textContent = mine === theirs ? "=" : "≠";
      row.classList.toggle("gap--differs", mine !== theirs);
    });
  }

  function renderValidation(data) {
    var summary = $("validation-summary");
    if (!summary) { return; }
    var p = data.passage;
    var names = data.validations.filter(function (v) { return v.revision === p.revision; })
      .map(function (v) { return v.user_id === me ? "vous" : v.name; });
    var mineDone = data.validations.some(function (v) { return v.user_id === me && v.revision === p.revision; });
    var button = $("btn-validate");
    var final = $("final-mark");
    if (p.final) {
      summary.textContent = "Validée par les deux jurés.";
      final.hidden = false;
      final.textContent = p.final_mark === null ?
        "Grille validée par les deux jurés — verrouillée (la note est arrêtée lors de la dernière situation)." :
        "Note définitive : " + p.final_mark.replace(".", ",") + " / 20 — verrouillée (seule la division des examens peut la rouvrir).";
      button.hidden = true;
      return;
    }
    final.hidden = true;
    button.hidden = false;
    button.disabled = mineDone || p.blocked || p.absent;
    button.textContent = mineDone ? "Vous avez validé" : (document.getElementById("commune-mark") ? "Valider la note" : "Valider la grille");
    summary.textContent = names.length ? "Validée par " + names.join(" et ") + " ; la note est définitive quand les deux jurés ont validé. Toute modification de la grille commune annule les validations." :
      "Aucune validation. La note devient définitive quand les deux jurés ont validé la même version de la grille commune.";
    var refusedHere = Object.keys(refused).filter(function (key) { return key.indexOf("commune|") === 0; });
    if (refusedHere.length) {
      // What is validated is what the server holds, not the refused value on screen.
      summary.textContent += " Attention : une valeur affichée a été refusée (" + refusedHere.map(function (key) {
        return "« " + labelOf("commune", key.split("|")[1]) + " »";
      }).join(", ") + ") ; la version enregistrée, qui seule compte, ne la contient pas.";
    }
  }

  // The timer as it stands now: a fixed segment (the E5 preparation) whose due time has
  // come is shown ended at that time at once, without waiting for a poll; the next step
  // then waits for the jury (the server decides the same, see timer.compute).
  function timerView() {
    var t = state.timer;
    var seg = t.status === "running" && t.current !== null ? t.segments[t.current] : null;
    if (!seg || !seg.fixed || seg.due_at === null || serverNow() < seg.due_at) { return t; }
    var segments = t.segments.slice();
    segments[t.current] = Object.assign({}, seg, { ended_at: seg.due_at, elapsed: seg.allowed, due_at: null });
    var next = t.current + 1 < segments.length ? t.current + 1 : null;
    return Object.assign({}, t, { status: next === null ? "finished" : "waiting", current: null,
      awaiting: next, segments: segments });
  }
  function hm(at) {
    return new Date(at).toLocaleTimeString("fr-FR", { hour: "2-digit", minute: "2-digit", timeZone: cfg.zone || "Europe/Paris" });
  }
  function endedLabel(seg) { return seg.fixed && !seg.jury_present ? "Préparation" : seg.step; }

  function renderTimer() {
    if (!state) { return; }
    var t = timerView();
    var panel = $("timer");
    var segments = t.segments;
    var current = t.current === null ? null : segments[t.current];
    var liveElapsed = function (seg) {
      if (seg.started_at === null) { return 0; }
      if (seg.ended_at !== null || t.status === "paused") { return seg.elapsed; }
      return seg.elapsed + (serverNow() - state.server_time) / 1000;
    };
    // Screen readers hear phase changes and pauses, not every tick of the clock.
    var announce = t.status + ":" + t.current;
    if (lastAnnounce !== null && announce !== lastAnnounce) {
      $("live").textContent = t.status === "finished" ? "Passage terminé" :
        (t.status === "waiting" ? endedLabel(segments[t.awaiting - 1]) + " terminée — candidat attendu" :
        (t.status === "paused" ? "Minuteur en pause" : (current ? current.phase + (current.step !== current.phase ? " — " + current.step : "") : "")));
    }
    lastAnnounce = announce;
    panel.dataset.state = t.status;
    var presence = $("presence");
    if (presence) { presence.hidden = t.status !== "upcoming"; }
    $("btn-start").hidden = t.status !== "upcoming";
    // Paused: the one main action is to resume; the next step comes after.
    $("btn-next").hidden = !(t.status === "running" || t.status === "waiting");
    $("btn-next").textContent = t.status === "waiting" ? "Démarrer « " + segments[t.awaiting].step + " »" :
      (current && current.index === segments.length - 1 ? "Terminer le passage" : "Étape suivante");
    $("btn-resume").hidden = t.status !== "paused";
    $("pause-form").hidden = t.status !== "running";
    var shown = current || (t.status === "waiting" ? segments[t.awaiting] :
      (t.status === "finished" ? segments[segments.length - 1] : segments[0]));
    $("timer-phase").textContent = shown.phase;
    $("timer-step").textContent = shown.step !== shown.phase ? shown.step : "";
    var clock = $("timer-clock");
    var detail = $("timer-detail");
    if (t.status === "upcoming") {
      clock.textContent = fmt(segments[0].allowed);
      detail.textContent = state.passage.absent ? "Candidat absent (ABS)" : (state.passage.blocked ? "Dossier non valide (NV)" : "Passage non commencé");
      panel.classList.remove("timer--warn", "timer--over");
    } else if (t.status === "waiting") {
      var ended = segments[t.awaiting - 1];
      clock.textContent = fmt(segments[t.awaiting].allowed);
      detail.textContent = "";
      var strong = document.createElement("strong");
      strong.textContent = endedLabel(ended) + " terminée à " + hm(ended.ended_at) + " — candidat attendu";
      detail.appendChild(strong);
      detail.appendChild(document.createTextNode(" : démarrez l'étape suivante quand il est devant le jury."));
      panel.classList.remove("timer--warn", "timer--over");
      var endKey = state.passage.id + ":" + ended.index + ":0";
      if (serverNow() - ended.ended_at < 5000 && !beeped[endKey]) { beeped[endKey] = true; beep(); beep(300); }
    } else if (t.status === "finished") {
      clock.textContent = "Terminé";
      detail.textContent = "Durée réelle : " + fmt(segments.reduce(function (sum, s) { return sum + s.elapsed; }, 0));
      panel.classList.remove("timer--warn", "timer--over");
    } else {
      var elapsed = liveElapsed(current);
      var remaining = current.allowed - elapsed;
      clock.textContent = (remaining < 0 ? "+" : "") + fmt(remaining);
      panel.classList.toggle("timer--over", remaining < 0);
      panel.classList.toggle("timer--warn", remaining >= 0 && remaining <= 60);
      detail.textContent = t.status === "paused" ? "En pause — " + t.pause_reason :
        (remaining < 0 ? "Dépassement du maximum — écoulé " + fmt(elapsed) : "Écoulé " + fmt(elapsed) + " sur " + fmt(current.allowed) +
          (current.due_at !== null && current.due_at !== undefined ? " — se termine seule à " + hm(current.due_at) : ""));
      var key = state.passage.id + ":" + current.index;
      if (remaining <= 60 && remaining > 55 && !beeped[key + ":1"]) { beeped[key + ":1"] = true; beep(); }
      if (remaining <= 0 && remaining > -5 && !beeped[key + ":0"]) { beeped[key + ":0"] = true; beep(); beep(300); }
    }
    document.querySelectorAll("#timer-segments li").forEach(function (li) {
      var seg = segments[parseInt(li.dataset.index, 10)];
      var actual = li.querySelector("[data-actual]");
      li.classList.toggle("seg--current", current !== null && seg.index === current.index);
      li.classList.toggle("seg--next", t.status === "waiting" && seg.index === t.awaiting);
      li.classList.toggle("seg--done", seg.ended_at !== null);
      actual.textContent = seg.started_at === null ? "" : (seg.ended_at !== null ? "durée réelle " : "en cours ") + fmt(liveElapsed(seg));
    });
    renderPreparations();
  }

  // The commission's other candidates preparing alone: when each preparation ends, and
  // once ended (switched here at its due time, without a poll), that the candidate is due.
  function renderPreparations() {
    var box = $("other-preparations");
    if (!box || !state || !state.preparations) { return; }
    var lines = state.preparations.map(function (item) {
      var due = item.kind === "due" || (item.kind === "fixed" && item.due_at !== null && serverNow() >= item.due_at);
      var text = due ? item.name + " : préparation terminée à " + hm(item.ended_at || item.due_at) + " — candidat attendu" :
        (item.kind === "paused" ? "En préparation : " + item.name + " — en pause (incident)" :
          "En préparation : " + item.name + " — se termine seule à " + hm(item.due_at));
      return { id: item.id, url: item.url, due: due, kind: due ? "due" : item.kind, text: text };
    });
    var key = JSON.stringify(lines);
    if (box.dataset.key === key) { return; }  // unchanged: leave the live region quiet
    box.dataset.key = key;
    box.textContent = "";
    lines.forEach(function (line) {
      var p = document.createElement("p");
      p.className = "progress progress--" + line.kind;
      var label = document.createElement(line.due ? "strong" : "span");
      label.textContent = line.text;
      var link = document.createElement("a");
      link.href = line.url;
      link.textContent = "ouvrir son passage";
      p.appendChild(label);
      p.appendChild(document.createTextNode(" · "));
      p.appendChild(link);
      box.appendChild(p);
    });
  }

  var audio = null;
  function beep(delay) {
    if (!$("sound-toggle").checked) { return; }
    setTimeout(function () {
      try {
        audio = audio || new (window.AudioContext || window.webkitAudioContext)();
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.frequency.value = 660;
        gain.gain.value = 0.05;
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(); osc.stop(audio.currentTime + 0.2);
      } catch (e) { /* no audio */ }
    }, delay || 0);
  }

  function timerAction(body) {
    var sentAt = Date.now();
    post(cfg.timerUrl, body).then(function (data) {
      var receivedAt = Date.now();
      clockSample(sentAt, receivedAt, data.server_time);
      applyState(data, receivedAt);
    }).catch(function (error) {
      if (error.status === 401) { setExpired(true); return; }
      say(!isTransient(error) ? error.message : "Hors ligne ou serveur indisponible : l'action n'a pas été transmise. Le minuteur continue ; réessayez dans un instant.");
    });
  }

  // A message about an action (the banner keeps saying the state of the saves).
  var sayTimer = null;
  function say(message) {
    $("live").textContent = message;
    var el = $("action-status");
    el.textContent = message;
    el.hidden = false;
    clearTimeout(sayTimer);
    sayTimer = setTimeout(function () { el.hidden = true; el.textContent = ""; }, 8000);
  }

  // ---- wiring ----------------------------------------------------------------
  document.querySelectorAll(".grid-form").forEach(function (form) {
    form.addEventListener("input", onEdit);
    form.addEventListener("change", onEdit);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
  });
  $("btn-start").addEventListener("click", function () { timerAction({ action: "start" }); });
  // Ending a step cannot be undone: say which one ends and what comes next, then ask.
  function stepLabel(index) {
    var li = document.querySelector("#timer-segments li[data-index='" + index + "'] .seg__label");
    return li ? li.textContent.trim() : "";
  }
  $("btn-next").addEventListener("click", function () {
    if (!state) { return; }
    var view = timerView();
    // The fixed preparation ended by itself: the candidate comes in, the next step starts.
    if (view.status === "waiting") { timerAction({ action: "next", from: view.awaiting - 1 }); return; }
    if (state.timer.current === null) { return; }
    var from = state.timer.current;
    var last = from === state.timer.segments.length - 1;
    var question = last
      ? "Terminer le passage ? « " + stepLabel(from) + " » prend fin. Cette action est définitive."
      : "Terminer « " + stepLabel(from) + " » et passer à « " + stepLabel(from + 1) + " » ? Cette action est définitive.";
    if (!window.confirm(question)) { say("Rien n'a changé : l'étape continue."); return; }
    timerAction({ action: "next", from: from });
  });
  $("btn-resume").addEventListener("click", function () { timerAction({ action: "resume" }); });
  $("pause-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var reason = $("pause-reason").value.trim();
    if (!reason) { say("Indiquez le motif de la pause."); $("pause-reason").focus(); return; }
    timerAction({ action: "pause", reason: reason });
    $("pause-reason").value = "";
  });
  $("btn-fullscreen").addEventListener("click", function () {
    var panel = $("timer");
    if (document.fullscreenElement) { document.exitFullscreen(); } else if (panel.requestFullscreen) { panel.requestFullscreen(); }
  });
  var sound = $("sound-toggle");
  sound.checked = localStorage.getItem("jury-sound") === "1";
  sound.addEventListener("change", function () { localStorage.setItem("jury-sound", sound.checked ? "1" : "0"); });
  var reveal = $("btn-reveal");
  if (reveal) {
    reveal.addEventListener("click", function () {
      if (!window.confirm("Dévoiler votre grille ? Elle ne pourra plus être modifiée ; la suite se fait dans la grille commune.")) { return; }
      post(cfg.revealUrl, {}).then(function (data) { applyState(data, Date.now()); })
        .catch(function (error) { if (error.status === 401) { setExpired(true); } else { say(error.message); } });
    });
  }
  var validate = $("btn-validate");
  if (validate) {
    var refusedText = function () {
      return "Rien n'est validé : corrigez d'abord la valeur refusée (" + Object.keys(refused).map(function (key) {
        var parts = key.split("|");
        return "« " + labelOf(parts[0], parts[1]) + " »";
      }).join(", ") + ").";
    };
    validate.addEventListener("click", function () {
      if (Object.keys(conflicts).length) { say("Réglez d'abord les conflits de saisie."); return; }
      if (Object.keys(refused).length) { say(refusedText()); return; }
      if (expired || stalePage) { say("Session expirée — reconnectez-vous avant de valider ; vos modifications sont gardées."); return; }
      saveNow();
      validate.disabled = true;
      var waited = 0;
      // Validate what was typed: wait for the last edits to be saved first, and validate
      // nothing if one of them was refused or cannot be sent.
      (function whenSaved() {
        if (Object.keys(refused).length || Object.keys(conflicts).length) {
          validate.disabled = false; say(Object.keys(refused).length ? refusedText() : "Réglez d'abord les conflits de saisie."); return;
        }
        if (queue.length || inflight) {
          waited += 100;
          if (waited > 10000 || !online || failing || expired || stalePage) { validate.disabled = false; say("Enregistrement impossible pour le moment : rien n'est validé. Validez quand la connexion est rétablie."); return; }
          setTimeout(whenSaved, 100);
          return;
        }
        post(cfg.validateUrl, { revision: state.passage.revision })
          .then(applyValidation)
          .catch(function (error) {
            validate.disabled = false;
            if (error.status === 401) { setExpired(true); } else { say(isTransient(error) ? "Serveur injoignable : rien n'est validé, réessayez." : error.message); }
          });
      })();
    });
  }
  // ---- offline reload (issue 17): jury-sw.js keeps this page, its assets and the last
  // state. When no worker served this page (the first time), the page caches itself.
  function registerOffline() {
    if (!cfg.swUrl || !("serviceWorker" in navigator) || !window.caches) { return; }
    // Read now, not once the worker is ready: it claims this page as it activates, but
    // the page and its assets came before it, and only this page can cache them.
    var servedByWorker = !!navigator.serviceWorker.controller;
    navigator.serviceWorker.register(cfg.swUrl, { scope: cfg.swScope }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function () {
      if (servedByWorker) { return; }  // the worker cached what went through it
      var urls = [window.location.pathname].concat(
        Array.prototype.map.call(document.querySelectorAll('link[rel~="stylesheet"], link[rel~="icon"], script[src]'),
          function (el) { return el.href || el.src; }));
      return caches.open("jury-offline-v1").then(function (cache) {
        return Promise.all(urls.map(function (u) {
          var url = new URL(u, window.location.href);
          return fetch(url.href, { credentials: "same-origin" }).then(function (response) {
            if (response.ok && !response.redirected) {
              return cache.put(url.origin + url.pathname + (url.pathname.indexOf("/static/") === 0 ? url.search : ""), response);
            }
          });
        }));
      });
    }).then(function () { root.dataset.offlineReady = "1"; })
      .catch(function () { /* no offline reload: the page works as before */ });
  }

  window.addEventListener("online", function () { attempts = 0; retryNow(); });
  window.addEventListener("offline", function () { setOnline(false); });
  // Leaving (reload, re-login): the debounced edits go into the persisted queue first.
  window.addEventListener("pagehide", function () { keepTyping(); persist(); });
  setInterval(renderTimer, 250);
  registerOffline();
  renderRefused();
  runPoll();
  if (cfg.waitUrl) { pushWait(cfg.liveVersion || ""); }
})();
