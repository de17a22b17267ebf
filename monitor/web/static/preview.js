// Subscriptions: refresh the "would have matched" preview as the form changes. Without
// JavaScript the Preview button does the same with a page load.
const form = document.getElementById("subscription-form");
const preview = document.getElementById("preview");
let timer = null;
let latest = 0;

async function refresh() {
  const data = new FormData(form);
  data.delete("csrf");
  data.set("preview", "1");
  const query = new URLSearchParams(data);
  const ticket = ++latest;
  const response = await fetch(`/subscriptions?${query}`, { headers: { Accept: "text/html" } });
  if (!response.ok || ticket !== latest) return;
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.getElementById("preview");
  if (fresh) preview.replaceChildren(...fresh.childNodes);
}

if (form && preview) {
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  });
}
