// Every page: the first error is read out and focused; signing out warns when outcomes
// recorded without a signal have not been sent yet (signing out deletes them).
import { countQueued } from "/static/store.js";

const error = document.getElementById("fehler");
if (error) error.focus();

const signout = document.querySelector("form[data-signout]");
if (signout) {
  signout.addEventListener("submit", async (event) => {
    if (signout.dataset.confirmed) return;
    event.preventDefault();
    const waiting = await countQueued();
    if (waiting > 0 && !window.confirm(
      `${waiting} Ergebnis(se) sind noch nicht gesendet und gehen beim Abmelden verloren. Trotzdem abmelden?`)) {
      return;
    }
    signout.dataset.confirmed = "1";
    signout.requestSubmit();
  });
}
