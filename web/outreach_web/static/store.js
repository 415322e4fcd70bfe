// The field app's storage in the browser: IndexedDB, every record with personal data sealed
// with AES-256-GCM under the session's offline key. The key comes from the server
// (/api/session) and is imported as non-extractable: page scripts can use it but never read
// it. Data is wiped on sign-out (the server also sends Clear-Site-Data) and when it expires.

const DB_NAME = "outreach-field";
const VERSION = 1;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let opened = null;

export function db() {
  if (!opened) {
    const req = indexedDB.open(DB_NAME, VERSION);
    req.onupgradeneeded = () => {
      const d = req.result;
      d.createObjectStore("keys", { keyPath: "id" });
      d.createObjectStore("data", { keyPath: "name" });
      d.createObjectStore("outbox", { keyPath: "id" });
    };
    opened = request(req);
  }
  return opened;
}

async function tx(store, mode, work) {
  const d = await db();
  const t = d.transaction(store, mode);
  const result = await work(t.objectStore(store));
  await new Promise((resolve, reject) => {
    t.oncomplete = resolve;
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
  return result;
}

const all = (store) => tx(store, "readonly", (s) => request(s.getAll()));
const get = (store, key) => tx(store, "readonly", (s) => request(s.get(key)));
const put = (store, value) => tx(store, "readwrite", (s) => request(s.put(value)));
const remove = (store, key) => tx(store, "readwrite", (s) => request(s.delete(key)));

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

export async function rememberKey(offline) {
  if (await get("keys", offline.id)) return;
  const key = await crypto.subtle.importKey(
    "raw", fromBase64(offline.key), { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  await put("keys", { id: offline.id, key, expires: offline.expires_at });
}

async function newestKey() {
  const keys = (await all("keys")).filter((k) => k.expires > Date.now());
  keys.sort((a, b) => b.expires - a.expires);
  return keys[0] || null;
}

export async function hasKey() {
  return (await newestKey()) !== null;
}

export async function seal(value) {
  const key = await newestKey();
  if (!key) throw new Error("no offline key");
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(JSON.stringify(value));
  const data = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key.key, plain);
  return { keyId: key.id, iv, data };
}

export async function unseal(sealed) {
  const key = await get("keys", sealed.keyId);
  if (!key) throw new Error("key gone");
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: sealed.iv }, key.key, sealed.data);
  return JSON.parse(new TextDecoder().decode(plain));
}

export async function saveAgenda(agenda, expires) {
  await put("data", { name: "agenda", expires, sealed: await seal(agenda) });
}

export async function loadAgenda() {
  const record = await get("data", "agenda");
  if (!record) return null;
  if (record.expires <= Date.now()) {
    await remove("data", "agenda");
    return null;
  }
  try {
    return await unseal(record.sealed);
  } catch {
    await remove("data", "agenda");
    return null;
  }
}

// An outcome waiting to be sent: its state in plain (no personal data), the rest sealed.
export async function queue(entry) {
  const { id, visitId, state, ...secret } = entry;
  await put("outbox", { id, visitId, state, created: Date.now(), sealed: await seal(secret) });
}

export async function queued() {
  const entries = [];
  for (const record of await all("outbox")) {
    try {
      const secret = await unseal(record.sealed);
      entries.push({ ...secret, id: record.id, visitId: record.visitId, state: record.state });
    } catch {
      entries.push({ id: record.id, visitId: record.visitId, state: "unreadable" });
    }
  }
  entries.sort((a, b) => (a.recordedAt || 0) - (b.recordedAt || 0));
  return entries;
}

export async function countQueued() {
  try {
    return (await all("outbox")).length;
  } catch {
    return 0;
  }
}

export const dequeue = (id) => remove("outbox", id);

// Keys past their time go, unless an unsent outcome still needs one: nothing typed is lost.
export async function forgetExpired() {
  const needed = new Set((await all("outbox")).map((r) => r.sealed.keyId));
  for (const key of await all("keys")) {
    if (key.expires <= Date.now() && !needed.has(key.id)) await remove("keys", key.id);
  }
}

export async function wipe() {
  if (opened) {
    (await opened).close();
    opened = null;
  }
  await new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(DB_NAME);
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
  });
  if (self.caches) {
    for (const name of await caches.keys()) await caches.delete(name);
  }
}
