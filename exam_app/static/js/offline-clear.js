/* Logged out: the jury passage pages kept for offline reloads (jury-sw.js) go too. The
 * queue of unsent marks (localStorage, per juror) stays for that juror's next login. */
(function () {
  "use strict";
  if (!window.caches) { return; }
  caches.keys().then(function (keys) {
    keys.forEach(function (key) { if (key.indexOf("jury-offline-") === 0) { caches.delete(key); } });
  }).catch(function () { /* storage unavailable */ });
})();
