/* Dossier deposit: raw, resumable uploads (tus-like) with a progress bar per file.
 * Each file is announced (POST JSON), then sent as raw request bodies in chunks
 * (PATCH + Upload-Offset). After a lost connection the client asks the server
 * how many bytes it holds (GET) and continues from there. Without JavaScript
 * the page keeps its plain multipart form. */
(function () {
  "use strict";
  var CHUNK = 8 * 1024 * 1024;
  var MAX_RETRIES = 30;

  function csrfToken() {
    var input = document.querySelector('input[name="csrf_token"]');
    return input ? input.value : "";
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function formatMb(bytes) { return (bytes / 1e6).toFixed(1).replace(".", ",") + " Mo"; }

  function sendChunk(url, blob, offset, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("PATCH", url);
      xhr.setRequestHeader("Content-Type", "application/offset+octet-stream");
      xhr.setRequestHeader("Upload-Offset", String(offset));
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) { onProgress(e.loaded); } };
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        resolve({ status: xhr.status, body: body });
      };
      xhr.onerror = function () { reject(new Error("network")); };
      xhr.ontimeout = function () { reject(new Error("timeout")); };
      xhr.send(blob);
    });
  }

  function serverOffset(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (body) { return body.offset; });
  }

  function listItem(list, file) {
    var li = document.createElement("li");
    li.className = "upload";
    var name = document.createElement("span");
    name.className = "upload__name";
    name.textContent = file.name + " (" + formatMb(file.size) + ")";
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", "Progression de l'envoi de " + file.name);
    var status = document.createElement("span");
    status.className = "upload__status";
    status.textContent = "En attente…";
    li.appendChild(name); li.appendChild(bar); li.appendChild(status);
    list.appendChild(li);
    return {
      progress: function (fraction) {
        bar.value = Math.round(fraction * 100);
        status.textContent = bar.value + " %";
      },
      element: li,
      done: function (text) { bar.value = 100; li.classList.add("upload--ok"); status.textContent = text; },
      // A refused file shows no progress: a full bar beside the red message reads as sent.
      fail: function (text) {
        bar.value = 0;
        li.classList.add("upload--error"); status.textContent = text; status.setAttribute("role", "alert");
      },
      note: function (text) { status.textContent = text; }
    };
  }

  async function uploadOne(section, file, piece, replaces, item) {
    var created = await fetch(section.dataset.createUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ piece: piece, name: file.name, size: file.size, replaces: replaces })
    }).catch(function () { return null; });
    if (!created) { item.fail("Connexion impossible : réessayez."); return false; }
    var info = await created.json().catch(function () { return {}; });
    if (created.status !== 201) { item.fail(info.message || "Envoi refusé."); return false; }
    var url = info.url, offset = 0, retries = 0;
    while (true) {
      var end = Math.min(offset + CHUNK, file.size);
      var base = offset;
      try {
        var r = await sendChunk(url, file.slice(offset, end), offset, function (loaded) {
          item.progress((base + loaded) / file.size);
        });
        if (r.status === 200) {
          retries = 0;
          offset = r.body.offset;
          if (r.body.complete) {
            item.done("Déposé (" + r.body.file.pages + " page(s))" + (r.body.file.flagged ? " — contenu actif signalé" : ""));
            return true;
          }
          continue;
        }
        if (r.status === 409 && r.body.error === "offset") { offset = await serverOffset(url); continue; }
        if (r.status === 409 && r.body.error === "busy" && retries < MAX_RETRIES) {
          // A previous request (a lost connection the server still reads) holds the
          // upload: wait for it to end, then resume from what the server holds.
          retries += 1;
          item.note("Envoi précédent en cours de clôture, reprise…");
          await sleep(Math.min(500 * Math.pow(2, retries), 10000));
          offset = await serverOffset(url);
          continue;
        }
        item.fail(r.body.message || ("Erreur " + r.status + "."));
        return false;
      } catch (err) {
        retries += 1;
        if (retries > MAX_RETRIES) { item.fail("Connexion perdue : réessayez plus tard, l'envoi reprendra où il s'est arrêté."); return false; }
        item.note("Connexion perdue, reprise…");
        await sleep(Math.min(500 * Math.pow(2, retries), 10000));
        try { offset = await serverOffset(url); } catch (e) { /* still offline: retry */ }
      }
    }
  }

  async function refresh(section) {
    var response = await fetch(window.location.pathname, { credentials: "same-origin" });
    var doc = new DOMParser().parseFromString(await response.text(), "text/html");
    var fresh = doc.getElementById(section.id);
    if (!fresh) { return; }
    ["dl.facts", ".table-wrap"].forEach(function (selector) {
      var oldPart = section.querySelector(selector), newPart = fresh.querySelector(selector);
      if (oldPart && newPart) { oldPart.replaceWith(newPart); }
    });
    reveal(section);
  }

  async function handleFiles(section, files, piece, replaces) {
    var list = section.querySelector("[data-upload-list]");
    var items = Array.prototype.map.call(files, function (f) { return [f, listItem(list, f)]; });
    var any = false;
    for (var i = 0; i < items.length; i++) {
      var ok = await uploadOne(section, items[i][0], piece, replaces, items[i][1]);
      any = any || ok;
    }
    if (any) { await refresh(section); }
    // The file input that had the focus may have been replaced: keep keyboard users where
    // they were, on the last file's result (its text is read out), not on <body>.
    var last = items[items.length - 1][1].element;
    last.setAttribute("tabindex", "-1");
    last.focus();
    section.dispatchEvent(new CustomEvent("uploads-finished", { bubbles: true }));
  }

  function reveal(root) {
    root.querySelectorAll(".js-only").forEach(function (e) { e.hidden = false; });
    root.querySelectorAll(".nojs-only").forEach(function (e) { e.hidden = true; });
  }

  document.querySelectorAll("[data-dossier]").forEach(function (section) {
    reveal(section);
    section.addEventListener("change", function (e) {
      var input = e.target;
      if (input.type !== "file" || !input.files.length) { return; }
      var replaces = input.dataset.replaces ? parseInt(input.dataset.replaces, 10) : null;
      var files = Array.prototype.slice.call(input.files);
      input.value = "";
      handleFiles(section, files, input.dataset.piece, replaces);
    });
    section.addEventListener("dragover", function (e) {
      var row = e.target.closest("[data-drop]");
      if (row) { e.preventDefault(); row.classList.add("piece--over"); }
    });
    section.addEventListener("dragleave", function (e) {
      var row = e.target.closest("[data-drop]");
      if (row) { row.classList.remove("piece--over"); }
    });
    section.addEventListener("drop", function (e) {
      var row = e.target.closest("[data-drop]");
      if (!row) { return; }
      e.preventDefault();
      row.classList.remove("piece--over");
      handleFiles(section, e.dataTransfer.files, row.dataset.piece, null);
    });
  });
})();
