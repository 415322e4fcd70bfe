// The calendar page: the new calendar link (shown once) copied to the clipboard with a tap.
// Without a script the address stays in its field to select and copy by hand.
const button = document.querySelector("button[data-copy]");
if (button) {
  const source = document.getElementById(button.dataset.copy);
  const said = document.getElementById("copy-status");
  source.addEventListener("focus", () => source.select());
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.value);
      said.textContent = "Link kopiert. Fügen Sie ihn jetzt in Ihrem Kalender ein.";
    } catch {
      source.focus();
      said.textContent = "Kopieren ging nicht von selbst: Der Link ist markiert, bitte kopieren Sie ihn.";
    }
  });
}
