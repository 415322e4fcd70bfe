// The field app: today's and tomorrow's visits, also without a signal; outcomes recorded
// offline wait (encrypted) and are sent when the connection returns, each with the version of
// the visit it was recorded against. A visit changed meanwhile comes back as a conflict: both
// sides are shown and the worker decides.
import * as store from "./store.js";

const $ = (id) => document.getElementById(id);
const status = $("status");
const daysEl = $("days");
const panel = $("outcome-panel");
const form = $("outcome-form");
const formError = $("outcome-error");

let csrf = null;
let agenda = null;
let editing = null; // {visit, entryId?, expectedVersion}
let flushing = false;

const LABELS = {
  outcome: Object.fromEntries([...form.querySelectorAll("input[name=outcome]")].map(
    (i) => [i.value, i.labels[0].textContent])),
  need: Object.fromEntries([...form.querySelectorAll("input[name=needs]")].map(
    (i) => [i.value, i.labels[0].textContent])),
  next: Object.fromEntries([...form.querySelectorAll("#o-next option")].map(
    (o) => [o.value, o.textContent])),
};

function say(text) {
  status.textContent = text;
}

function time(ms) {
  return new Date(ms).toLocaleString("de-DE", {
    day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit",
  }) + " Uhr";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

// --- the agenda ---------------------------------------------------------------------------

function render() {
  daysEl.replaceChildren();
  if (!agenda) return;
  for (const day of agenda.days) {
    const section = el("section", { "aria-label": day.label });
    section.append(el("h2", {}, day.label === agenda.days[0].label ? `Heute, ${day.label}` : `Morgen, ${day.label}`));
    if (!day.visits.length) section.append(el("p", { class: "empty" }, "Keine Besuche."));
    day.visits.forEach((visit, index) => section.append(visitCard(visit, index + 1)));
    daysEl.append(section);
  }
}

function visitCard(visit, position) {
  const card = $("visit-template").content.firstElementChild.cloneNode(true);
  card.querySelector(".visit-name").textContent = `${position}. ${visit.name || "Person"}`;
  card.querySelector(".visit-when").textContent = visit.when;
  card.querySelector(".visit-address").textContent = visit.address || "";
  const call = card.querySelector(".visit-call");
  if (visit.phone) {
    call.href = `tel:${visit.phone.replace(/[^+0-9]/g, "")}`;
    call.textContent = `Anrufen: ${visit.phone}`;
    call.hidden = false;
  }
  card.querySelector(".visit-purpose").textContent = visit.purpose_label;
  card.querySelector(".visit-place").textContent =
    visit.place === "neutral_place" ? `Neutraler Ort: ${visit.place_description || ""}` : "Zuhause";
  card.querySelector(".visit-workers").textContent = visit.workers.join(", ");
  card.querySelector(".visit-letter").textContent = visit.letter;
  const button = card.querySelector(".visit-record");
  button.setAttribute("aria-label", `Ergebnis erfassen: ${visit.name || "Person"}`);
  button.addEventListener("click", () => openForm(visit, null, button));
  card.dataset.visit = visit.visit_id;
  return card;
}

async function refresh() {
  if (!navigator.onLine) {
    say(agenda ? `Ohne Verbindung – Stand vom ${time(agenda.fetched_at)}.` : "Ohne Verbindung und ohne gespeicherten Tagesplan.");
    return;
  }
  try {
    // Both at once (the page asked for both while it loaded): one round trip, not two.
    const [session, answer] = await Promise.all([
      fetch("/api/session", { credentials: "same-origin" }),
      fetch("/api/agenda", { credentials: "same-origin" }),
    ]);
    if (session.status === 401) {
      say("Bitte melden Sie sich an, um den Tagesplan zu laden und Ergebnisse zu senden.");
      showSignIn();
      return;
    }
    const facts = await session.json();
    csrf = facts.csrf;
    await store.rememberKey(facts.offline_key);
    if (!answer.ok) throw new Error(String(answer.status));
    agenda = await answer.json();
    await store.saveAgenda(agenda, facts.offline_key.expires_at);
    render();
    say(`Aktuell (${time(agenda.fetched_at)}). Auch ohne Verbindung verfügbar.`);
  } catch {
    say(agenda ? `Keine Verbindung – Stand vom ${time(agenda.fetched_at)}.` : "Der Tagesplan konnte nicht geladen werden.");
  }
}

function showSignIn() {
  if (document.getElementById("sign-in-again")) return;
  status.after(el("p", { id: "sign-in-again" }, el("a", { class: "button", href: "/anmelden?weiter=/unterwegs" }, "Anmelden")));
}

// --- the outcome form ---------------------------------------------------------------------

function openForm(visit, entry, opener) {
  editing = { visit, entryId: entry ? entry.id : null, opener,
    expectedVersion: entry && entry.conflict ? entry.conflict.current_version : visit.version };
  form.reset();
  formError.hidden = true;
  const values = entry ? entry.payload : {};
  if (values.outcome) form.querySelector(`input[name=outcome][value=${values.outcome}]`).checked = true;
  for (const need of values.needs || []) form.querySelector(`input[name=needs][value=${need}]`).checked = true;
  form.note.value = values.note || "";
  form.coaching_referral_consent.checked = Boolean(values.coaching_referral_consent);
  form.next_step.value = values.next_step || "none";
  form.completed_on.value = values.completed_on || new Date().toLocaleDateString("sv-SE");
  $("outcome-for").textContent = `${visit.name || "Person"} – ${visit.when}`;
  // On a phone the form takes the screen: the agenda and the queue wait behind it.
  daysEl.hidden = true;
  $("outbox").hidden = true;
  panel.hidden = false;
  $("outcome-title").focus();
}

function closeForm() {
  panel.hidden = true;
  daysEl.hidden = false;
  showOutbox();
  const opener = editing && editing.opener;
  editing = null;
  if (opener && opener.isConnected) opener.focus();
}

$("outcome-cancel").addEventListener("click", closeForm);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const chosen = form.querySelector("input[name=outcome]:checked");
  if (!chosen) {
    formError.textContent = "Bitte wählen Sie ein Ergebnis.";
    formError.hidden = false;
    form.querySelector("input[name=outcome]").focus();
    return;
  }
  const payload = {
    outcome: chosen.value,
    needs: [...form.querySelectorAll("input[name=needs]:checked")].map((i) => i.value),
    note: form.note.value.trim() || null,
    coaching_referral_consent: form.coaching_referral_consent.checked,
    next_step: form.next_step.value,
    completed_on: form.completed_on.value || null,
  };
  const { visit, entryId, expectedVersion } = editing;
  if (entryId) await store.dequeue(entryId);
  await store.queue({
    id: crypto.randomUUID(),
    visitId: visit.visit_id,
    state: "pending",
    payload,
    expectedVersion,
    visit: { visit_id: visit.visit_id, name: visit.name, when: visit.when, version: visit.version },
    recordedAt: Date.now(),
  });
  closeForm();
  say(navigator.onLine ? "Gespeichert, wird gesendet …" : "Gespeichert. Wird gesendet, sobald wieder Verbindung besteht.");
  await showOutbox();
  flush();
});

// --- sending, and conflicts ---------------------------------------------------------------

async function flush() {
  if (flushing || !navigator.onLine) return;
  flushing = true;
  let sent = 0;
  try {
    if (!csrf) await refresh();
    if (!csrf) return;
    for (const entry of await store.queued()) {
      if (entry.state !== "pending") continue;
      let answer;
      try {
        answer = await fetch(`/api/visits/${entry.visitId}/outcome`, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify({ ...entry.payload, expected_version: entry.expectedVersion }),
        });
      } catch {
        break; // no connection after all: it stays queued
      }
      if (answer.status === 401) { showSignIn(); break; }
      if (answer.ok) {
        await store.dequeue(entry.id);
        sent += 1;
        say(`Gesendet: ${entry.visit.name || "Ergebnis"}.`);
        continue;
      }
      const problem = await answer.json().catch(() => ({}));
      const conflict = { message: problem.message || "Das hat nicht geklappt.", code: problem.code,
        differing: problem.differing || [], current_version: problem.current_version };
      if (answer.status === 409) {
        const now = await fetch(`/api/visits/${entry.visitId}`, { credentials: "same-origin" });
        if (now.ok) conflict.current = await now.json();
        if (!conflict.current_version && conflict.current) conflict.current_version = conflict.current.version;
      }
      await store.dequeue(entry.id);
      await store.queue({ ...entry, state: answer.status === 409 ? "conflict" : "refused", conflict });
    }
  } finally {
    flushing = false;
    await showOutbox();
  }
  if (sent) {
    // The agenda without the visits just completed (the status line says what was sent).
    const said = status.textContent;
    await refresh();
    say(said);
  }
}

function describe(payload) {
  const parts = [LABELS.outcome[payload.outcome] || payload.outcome];
  if (payload.needs && payload.needs.length) parts.push(`Bedarfe: ${payload.needs.map((n) => LABELS.need[n] || n).join(", ")}`);
  if (payload.note) parts.push(`Notiz: ${payload.note}`);
  if (payload.coaching_referral_consent) parts.push("Einverständnis Coaching");
  parts.push(`Nächster Schritt: ${LABELS.next[payload.next_step] || payload.next_step}`);
  return parts.join(" · ");
}

function currentSide(current) {
  if (!current) return "Der aktuelle Stand konnte nicht geladen werden.";
  const parts = [`${current.status_label}, ${current.when}`];
  if (current.cancelled_label) parts.push(`Grund: ${current.cancelled_label}`);
  if (current.outcome_label) parts.push(`Ergebnis: ${current.outcome_label}`);
  if (current.note) parts.push(`Notiz: ${current.note}`);
  return parts.join(" · ");
}

async function showOutbox() {
  const entries = await store.queued();
  const list = $("outbox-list");
  list.replaceChildren();
  $("outbox").hidden = entries.length === 0;
  for (const entry of entries) {
    const item = el("li", { class: `queued ${entry.state}`, "data-state": entry.state });
    if (entry.state === "unreadable") {
      item.append("Ein Eintrag kann mit dem Schlüssel dieses Geräts nicht mehr gelesen werden.");
      item.append(el("button", { type: "button", onclick: async () => { await store.dequeue(entry.id); showOutbox(); } }, "Entfernen"));
      list.append(item);
      continue;
    }
    item.append(el("strong", {}, `${entry.visit.name || "Person"} – ${entry.visit.when}`));
    if (entry.state === "pending") {
      item.append(el("p", {}, `Wartet auf Verbindung (erfasst ${time(entry.recordedAt)}): ${describe(entry.payload)}`));
    } else {
      const c = entry.conflict || {};
      const changed = c.differing && c.differing.length ? ` Geändert: ${c.differing.join(", ")}.` : "";
      item.append(el("p", { class: "error", role: "alert" }, c.message + changed));
      const sides = el("div", { class: "sides" },
        el("section", { "aria-label": "Ihr Eintrag" }, el("h3", {}, "Ihr Eintrag"), el("p", {}, describe(entry.payload))),
        el("section", { "aria-label": "Jetzt" }, el("h3", {}, "Jetzt im Besuch"), el("p", {}, currentSide(c.current))));
      item.append(sides);
      const open = c.current && c.current.status === "announced";
      const buttons = el("div", { class: "buttons" });
      if (open) {
        buttons.append(el("button", { type: "button", class: "primary", onclick: () => resend(entry) }, "Trotzdem senden"));
      }
      buttons.append(el("button", { type: "button", onclick: (e) => openForm(
        { ...entry.visit, when: c.current ? c.current.when : entry.visit.when }, entry, e.target) }, "Bearbeiten"));
      buttons.append(el("button", { type: "button", onclick: () => discard(entry) }, "Verwerfen"));
      item.append(buttons);
    }
    list.append(item);
  }
}

async function resend(entry) {
  await store.dequeue(entry.id);
  const { conflict, ...rest } = entry;
  await store.queue({ ...rest, state: "pending", expectedVersion: conflict.current_version });
  await showOutbox();
  flush();
}

async function discard(entry) {
  if (!window.confirm("Diesen Eintrag wirklich verwerfen? Er wird nicht gesendet.")) return;
  await store.dequeue(entry.id);
  await showOutbox();
  say("Eintrag verworfen.");
}

// --- start ----------------------------------------------------------------------------------

async function start() {
  await store.forgetExpired();
  agenda = await store.loadAgenda();
  render();
  await showOutbox();
  await refresh();
  // After the agenda: the worker keeps the app's files, which on a slow network would
  // otherwise share the connection with the agenda the worker is waiting for.
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }
  flush();
}

window.addEventListener("online", () => { say("Wieder verbunden."); refresh().then(flush); });
window.addEventListener("offline", () => say(agenda ? `Ohne Verbindung – Stand vom ${time(agenda.fetched_at)}.` : "Ohne Verbindung."));
setInterval(() => { if (navigator.onLine) flush(); }, 30000);
start().finally(() => { document.body.dataset.ready = "true"; });
