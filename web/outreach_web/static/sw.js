// The service worker: keeps the field app's page (without personal data) and its files, so
// the agenda opens without a signal. Personal data is never cached here: the page's data lives
// encrypted in IndexedDB (store.js); every other answer goes to the network only.
// The files' URLs carry their version (the web app writes it in when it serves this file): a
// new version is a new worker, which keeps the new files and drops the old ones.
const VERSION = "__ASSETS_VERSION__";
const SHELL = "outreach-shell-v1";
const FILES = [
  "/unterwegs/start",
  ...["app.css", "field.js", "store.js", "app.js", "icon.svg"].map((name) => `/static/${VERSION}/${name}`),
  "/manifest.webmanifest",
];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    await cache.addAll(FILES);
    for (const request of await cache.keys()) {
      if (!FILES.includes(new URL(request.url).pathname)) await cache.delete(request);
    }
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== SHELL) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (event.request.mode === "navigate" && url.pathname === "/unterwegs") {
    // Online: the page as the server renders it (with the navigation); offline: the shell.
    event.respondWith(fetch(event.request).catch(() => caches.match("/unterwegs/start")));
    return;
  }
  if (FILES.includes(url.pathname)) {
    event.respondWith((async () => {
      const cache = await caches.open(SHELL);
      const cached = await cache.match(url.pathname);
      const fresh = fetch(event.request).then((answer) => {
        if (answer.ok) cache.put(url.pathname, answer.clone());
        return answer;
      }).catch(() => cached);
      return cached || fresh;
    })());
  }
});
