/* The jury passage page's service worker (issue 17): a tablet that reloads the passage
 * page while the Wi-Fi is down gets the page, its assets and the last state it received,
 * not the browser's error page. Scope: /jury/passages/ only.
 *
 * Network first, always: the cache answers only when the network does not. Saves (POST)
 * never go through it: the page queues them (localStorage) and sends them when the network
 * returns. A state answered from the cache says so (X-Jury-Offline: 1): the page then keeps
 * its clock and shows itself offline. The login page empties this cache (offline-clear.js). */
"use strict";
var CACHE = "jury-offline-v1";
var PAGE = /^\/jury\/passages\/\d+$/;
var STATE = /^\/jury\/passages\/\d+\/etat$/;

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("jury-offline-") === 0 && k !== CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  var page = request.mode === "navigate" && PAGE.test(url.pathname);
  var state = STATE.test(url.pathname);
  var asset = url.pathname.indexOf("/static/") === 0;
  if (!page && !state && !asset) { return; }
  // One entry per page, state or asset, whatever the query string (?jour=…).
  var key = url.origin + url.pathname + (asset ? url.search : "");
  event.respondWith(fetch(request).then(function (response) {
    // Only a page as the juror saw it: not a redirect to the login page, not an error.
    if (response.ok && !response.redirected && response.type === "basic") {
      keep(key, response.clone(), state);
    }
    return response;
  }, function (error) {
    return matchSoon(key, 6).then(function (hit) {
      if (!hit) { throw error; }
      if (!state) { return hit; }
      var headers = new Headers(hit.headers);
      headers.set("X-Jury-Offline", "1");
      return hit.blob().then(function (body) {
        return new Response(body, { status: 200, statusText: "OK", headers: headers });
      });
    });
  }));
});

// The answer is read in full before it replaces the entry: a put fed by the network's
// stream drops the previous entry first, so a connection lost in the middle of an answer
// (the Wi-Fi going down during a poll) left no state at all for the reload. A state
// older than the one kept (answers can land out of order) does not replace it.
function keep(key, response, isState) {
  return response.arrayBuffer().then(function (body) {
    return caches.open(CACHE).then(function (cache) {
      var newer = !isState ? Promise.resolve(true) : cache.match(key).then(function (hit) {
        if (!hit) { return true; }
        return hit.json().then(function (kept) {
          var fresh = JSON.parse(new TextDecoder().decode(body));
          return typeof kept.version !== "number" || typeof fresh.version !== "number" ||
            fresh.version >= kept.version;
        });
      });
      return newer.then(function (replace) {
        if (!replace) { return; }
        return cache.put(key, new Response(body, {
          status: response.status, statusText: response.statusText, headers: response.headers }));
      });
    });
  }).catch(function () { /* the previous entry stays */ });
}

// Chromium's Cache.put drops the previous entry before it writes the new one: a match
// made meanwhile (a reload at the moment the last poll's answer is being kept) misses it
// for a moment. A miss is asked again a few times, 150 ms apart, before giving up.
function matchSoon(key, tries) {
  return caches.open(CACHE).then(function (cache) { return cache.match(key); }).then(function (hit) {
    if (hit || tries <= 0) { return hit; }
    return new Promise(function (done) { setTimeout(done, 150); }).then(function () {
      return matchSoon(key, tries - 1);
    });
  });
}

