// After signing out: the encrypted data, its keys and the cached page are deleted (besides
// the server's Clear-Site-Data), and the service worker is removed.
import { wipe } from "./store.js";

await wipe();
if (navigator.serviceWorker) {
  for (const registration of await navigator.serviceWorker.getRegistrations()) {
    await registration.unregister();
  }
}
document.body.dataset.wiped = "true";
