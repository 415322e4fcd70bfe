// Every page: the first error is read out and focused; signing out warns when outcomes
// recorded without a signal have not been sent yet (signing out deletes them). The store is
// loaded only then: a page of the office needs no more script than this file.

const error = document.getElementById("fehler");
if (error) error.focus();

const signout = document.querySelector("form[data-signout]");
if (signout) {
  signout.addEventListener("submit", async (event) => {
    if (signout.dataset.confirmed) return;
    event.preventDefault();
    const store = await import("./store.js").catch(() => null);
    const waiting = store ? await store.countQueued() : 0;
    if (waiting > 0 && !window.confirm(
      `${waiting} Ergebnis(se) sind noch nicht gesendet und gehen beim Abmelden verloren. Trotzdem abmelden?`)) {
      return;
    }
    signout.dataset.confirmed = "1";
    signout.requestSubmit();
  });
}
