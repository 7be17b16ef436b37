/* Conformity queue: load each dossier without reloading the page, decide with the keyboard.
 * j / ArrowDown next, k / ArrowUp previous, o open the next piece in the viewer,
 * c decide "conforme" (saved at once), n "non conforme" (pick reasons, then Enter).
 * A conforme decision on a dossier with missing pieces, and any decision before the
 * deadline, first opens a dialog naming what is confirmed (Enter confirms, Escape cancels);
 * the server refuses them without the confirmation anyway.
 * The server lists a page of dossiers: past its last one (j, or a decision on it), the
 * next page opens. */
(function () {
  "use strict";
  var queue = document.querySelector("[data-queue]");
  if (!queue) { return; }
  var list = queue.querySelector("[data-queue-list]");
  var panel = queue.querySelector("[data-queue-panel]");
  var links = Array.prototype.slice.call(list.querySelectorAll("a[data-fragment]"));
  var nextPage = document.querySelector("[data-queue-next]");
  var index = -1;
  var fileIndex = 0;

  function csrfToken() {
    var input = document.querySelector('input[name="csrf_token"]');
    return input ? input.value : "";
  }

  function select(i) {
    if (i < 0 || i >= links.length) { return; }
    index = i;
    fileIndex = 0;
    links.forEach(function (a, k) { if (k === i) { a.setAttribute("aria-current", "true"); } else { a.removeAttribute("aria-current"); } });
    links[i].scrollIntoView({ block: "nearest" });
    panel.setAttribute("aria-busy", "true");
    fetch(links[i].dataset.fragment, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        panel.innerHTML = html;
        panel.removeAttribute("aria-busy");
        bindForm();
      })
      .catch(function () { panel.textContent = "Chargement impossible : vérifiez la connexion."; });
  }

  function bindForm() {
    var form = panel.querySelector("[data-decision-form]");
    if (!form) { return; }
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      submit(form);
    });
  }

  var dialog = document.querySelector("[data-confirm-dialog]");

  function decisionOf(form) {
    var radio = form.querySelector('input[name="decision"]:checked');
    return radio ? radio.value : "";
  }

  // What this decision still needs confirming: [{box, text}], from the fragment's data.
  function pendingConfirmations(form) {
    var box = form.querySelector("[data-confirmations]");
    var lines = [];
    if (!box) { return lines; }
    var missing = [];
    try { missing = JSON.parse(box.dataset.missing || "[]"); } catch (err) { missing = []; }
    var missingBox = form.querySelector('input[name="confirm_missing"]');
    var earlyBox = form.querySelector('input[name="confirm_early"]');
    if (decisionOf(form) === "compliant" && missing.length && missingBox && !missingBox.checked) {
      lines.push({ box: missingBox, text: "Pièces manquantes : " + missing.join(", ") + "." });
    }
    if (box.dataset.early && earlyBox && !earlyBox.checked) {
      lines.push({ box: earlyBox, text: "Décision avant la date limite : " + box.dataset.early + "." });
    }
    return lines;
  }

  function confirmThen(form, lines, then) {
    var message = form.querySelector("[data-form-message]");
    var label = decisionOf(form) === "compliant" ? "conforme" : "non conforme";
    if (!dialog || typeof dialog.showModal !== "function") {
      if (window.confirm("Déclarer ce dossier " + label + " ?\n" + lines.map(function (l) { return l.text; }).join("\n"))) {
        lines.forEach(function (l) { l.box.checked = true; });
        then();
      }
      return;
    }
    dialog.querySelector("[data-confirm-intro]").textContent = "Déclarer ce dossier " + label + " malgré :";
    var list = dialog.querySelector("[data-confirm-list]");
    list.innerHTML = "";
    lines.forEach(function (l) { var li = document.createElement("li"); li.textContent = l.text; list.appendChild(li); });
    dialog.returnValue = "";
    dialog.addEventListener("close", function onClose() {
      dialog.removeEventListener("close", onClose);
      if (dialog.returnValue === "confirm") {
        lines.forEach(function (l) { l.box.checked = true; });
        then();
      } else if (message) {
        message.textContent = "Décision non enregistrée (confirmation annulée).";
      }
    });
    dialog.showModal();
    dialog.querySelector("[data-confirm-ok]").focus();
  }

  // The server asks for a confirmation the page did not know of (the dossier changed).
  function confirmationBox(form, name) {
    var box = form.querySelector('input[name="' + name + '"]');
    if (!box) {
      box = document.createElement("input");
      box.type = "checkbox";
      box.name = name;
      box.value = "y";
      box.hidden = true;
      form.appendChild(box);
    }
    return box;
  }

  function submit(form) {
    var lines = pendingConfirmations(form);
    if (lines.length) { confirmThen(form, lines, function () { send(form); }); return; }
    send(form);
  }

  function send(form) {
    var message = form.querySelector("[data-form-message]");
    message.textContent = "Enregistrement…";
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: new FormData(form)
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (result) {
      if (!result.ok) {
        message.textContent = result.body.message || "Décision refusée.";
        if (result.body.error === "confirm_missing" || result.body.error === "confirm_early") {
          confirmThen(form, [{ box: confirmationBox(form, result.body.error), text: result.body.message }],
                      function () { send(form); });
        }
        return;
      }
      var info = links[index].querySelector(".muted");
      if (info) { info.textContent = (result.body.decision === "compliant" ? "Conforme" : "Non conforme") + " · " + result.body.label; }
      links[index].classList.add("decided");
      if (index + 1 < links.length) { select(index + 1); } else if (nextPage) { message.textContent = "Décision enregistrée. Dossiers suivants…"; window.location.href = nextPage.href; } else { message.textContent = "Décision enregistrée. Fin de la liste."; }
    }).catch(function () { message.textContent = "Connexion perdue : la décision n'est pas enregistrée, réessayez."; });
  }

  function openNextFile() {
    var files = panel.querySelectorAll("a[data-file]");
    var viewer = panel.querySelector("[data-viewer]");
    if (!files.length || !viewer) { return; }
    fileIndex = (fileIndex + 1) % files.length;
    viewer.src = files[fileIndex].href;
    viewer.title = "Aperçu de " + files[fileIndex].textContent;
  }

  function choose(value) {
    var form = panel.querySelector("[data-decision-form]");
    if (!form) { return; }
    var radio = form.querySelector('input[name="decision"][value="' + value + '"]');
    if (!radio) { return; }
    radio.checked = true;
    if (value === "compliant") {
      if (form.querySelector('textarea[name="revision_reason"]')) { form.querySelector('textarea[name="revision_reason"]').focus(); return; }
      submit(form);
    } else {
      var first = form.querySelector('input[name="reasons"]');
      if (first) { first.focus(); }
    }
  }

  list.addEventListener("click", function (e) {
    var a = e.target.closest("a[data-fragment]");
    if (!a) { return; }
    e.preventDefault();
    select(links.indexOf(a));
  });

  panel.addEventListener("click", function (e) {
    var a = e.target.closest("a[data-file]");
    var viewer = panel.querySelector("[data-viewer]");
    if (!a || !viewer) { return; }
    e.preventDefault();
    viewer.src = a.href;
    fileIndex = Array.prototype.indexOf.call(panel.querySelectorAll("a[data-file]"), a);
  });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (dialog && dialog.open) { return; }
    var tag = (e.target.tagName || "").toLowerCase();
    var typing = tag === "textarea" || (tag === "input" && !/^(radio|checkbox)$/.test(e.target.type)) || tag === "select";
    if (typing) { return; }
    var handled = true;
    switch (e.key) {
      case "j": case "ArrowDown":
        // Past the page's last dossier, the next page (the list is paginated by the server).
        if (index + 1 >= links.length && nextPage) { window.location.href = nextPage.href; } else { select(index + 1); }
        break;
      case "k": case "ArrowUp": select(index - 1); break;
      case "o": openNextFile(); break;
      case "c": choose("compliant"); break;
      case "n": choose("non_compliant"); break;
      default: handled = false;
    }
    if (handled) { e.preventDefault(); }
  });

  if (links.length) { select(0); }
})();
