// Search as you type: the list under the search box follows what is typed, the unfinished last
// word read as a prefix once it has 3 letters (the server's as_you_type). The page asks itself
// for the same URL the form would submit and takes the results part of the answer; enter still
// submits the form. A newer keystroke cancels the request of an older one.
import { localizeTimes } from "./local-time.js";

const form = document.querySelector("form.search");
const input = document.getElementById("q");
const area = document.getElementById("results-area");
const QUIET_MS = 200;

if (form && input && area) {
  let timer = null;
  let inFlight = null;

  const refresh = async () => {
    const query = input.value.trim();
    const url = new URL(form.action, location.href);
    if (query) {
      url.searchParams.set("q", query);
      url.searchParams.set("as_you_type", "1");
    }
    inFlight?.abort();
    inFlight = new AbortController();
    let response;
    try {
      response = await fetch(url, { signal: inFlight.signal, credentials: "same-origin" });
    } catch {
      return; // cancelled by a newer keystroke, or the server is unreachable: keep what is shown
    }
    if (!response.ok || response.redirected) return; // signed out meanwhile: enter still works
    const fresh = new DOMParser()
      .parseFromString(await response.text(), "text/html")
      .getElementById("results-area");
    if (!fresh || input.value.trim() !== query) return; // typed on while it loaded
    area.replaceChildren(...fresh.childNodes);
    localizeTimes(area);
    history.replaceState(null, "", query ? `?q=${encodeURIComponent(query)}` : url.pathname);
  };

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, QUIET_MS);
  });
}
