// Labelling queue: one key per answer. Each button and topic box names its key in data-key;
// nothing happens while typing in a field or with a modifier held.
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target instanceof HTMLElement && target.matches("input[type=text], textarea, select")) return;
  const form = document.getElementById("label-form");
  if (!form) return;
  const control = form.querySelector(`[data-key="${CSS.escape(event.key)}"]`);
  if (!control) return;
  event.preventDefault();
  if (control instanceof HTMLInputElement && control.type === "checkbox") {
    control.checked = !control.checked;
  } else if (control instanceof HTMLButtonElement) {
    form.requestSubmit(control);
  }
});
