/* Logged out: the jury passage pages kept for offline reloads (jury-sw.js) go too, with
 * the last states the pages kept (localStorage "jury-state:…"). The queue of unsent marks
 * (localStorage, per juror) stays for that juror's next login. */
(function () {
  "use strict";
  try {
    for (var i = localStorage.length - 1; i >= 0; i--) {
      var name = localStorage.key(i);
      if (name && name.indexOf("jury-state:") === 0) { localStorage.removeItem(name); }
    }
  } catch (e) { /* storage unavailable */ }
  if (!window.caches) { return; }
  caches.keys().then(function (keys) {
    keys.forEach(function (key) { if (key.indexOf("jury-offline-") === 0) { caches.delete(key); } });
  }).catch(function () { /* storage unavailable */ });
})();
