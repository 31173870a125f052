// sw.js — the demo's service worker: on install it downloads the app, the package's
// JavaScript and the mt/st WebAssembly builds, checks each against the SHA-256 the demo build
// recorded, and keeps them in a cache named after the build's content hash; on activate it
// deletes every older demo cache. Requests for those files (and page navigations) are then
// answered from the cache, so the page loads with no network. The model is not stored here:
// the package keeps it in its own Cache API store keyed by SHA-256 (storing it twice would
// cost 28 MB more), and the page pins the model's hash (site.json), so a new model is
// downloaded and the old one dropped.
// tools/build-demo.sh replaces the BUILD line with { version, files: { path: sha256 } }.
const BUILD = /*BUILD*/ null;
const PREFIX = "needlepoint-demo-";
const CACHE = PREFIX + (BUILD ? BUILD.version : "dev");

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const keyOf = (path) => new URL(path, self.registration.scope).href;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    if (!BUILD) return;
    const cache = await caches.open(CACHE);
    await Promise.all(Object.entries(BUILD.files).map(async ([path, sha256]) => {
      const res = await fetch(new Request(keyOf(path), { cache: "reload" }));
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
      const got = hex(await crypto.subtle.digest("SHA-256", await res.clone().arrayBuffer()));
      if (got !== sha256) throw new Error(`${path}: SHA-256 ${got}, the build recorded ${sha256}`);
      await cache.put(keyOf(path), res);
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (!BUILD || req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== location.origin) return;
  let key = null;
  if (req.mode === "navigate") key = keyOf("index.html");
  else {
    const path = url.href.slice(self.registration.scope.length).split(/[?#]/)[0];
    if (Object.hasOwn(BUILD.files, path)) key = keyOf(path);
  }
  if (!key) return; // the model and anything else: the network (the package caches the model)
  event.respondWith((async () => (await (await caches.open(CACHE)).match(key)) ?? fetch(req))());
});
