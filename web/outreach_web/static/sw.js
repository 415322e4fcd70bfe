// The service worker: keeps the field app's page (without personal data) and its files, so
// the agenda opens without a signal. Personal data is never cached here: the page's data lives
// encrypted in IndexedDB (store.js); every other answer goes to the network only.
const SHELL = "outreach-shell-v1";
const FILES = [
  "/unterwegs/start",
  "/static/app.css",
  "/static/field.js",
  "/static/store.js",
  "/static/app.js",
  "/static/icon.svg",
  "/manifest.webmanifest",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
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
