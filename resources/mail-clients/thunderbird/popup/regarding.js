// The Regarding picker: pinned and recent records, CRM search, one click tracks the messages
// the window was opened for. Text from the CRM is set as textContent, never as HTML.
import { pinnedAndRecent, searchRecords, trackIdsWithRegarding } from "../lib/track.js";

const m = globalThis.messenger;
const ids = (new URLSearchParams(location.search).get("messages") || "")
  .split(",")
  .map((s) => Number.parseInt(s, 10))
  .filter((n) => Number.isInteger(n));
const list = document.getElementById("records");
const status = document.getElementById("status");

function show(records) {
  list.replaceChildren();
  for (const record of records) {
    const button = document.createElement("button");
    button.textContent = record.name || record.label;
    const kind = document.createElement("small");
    kind.textContent = [record.kind, record.detail].filter(Boolean).join(" · ");
    button.append(kind);
    button.addEventListener("click", async () => {
      status.textContent = "Tracking…";
      const summary = await trackIdsWithRegarding(m, ids, record);
      status.textContent = summary.text;
      if (summary.ok) setTimeout(() => window.close(), 1200);
    });
    const item = document.createElement("li");
    item.append(button);
    list.append(item);
  }
  if (!records.length) status.textContent = "No records.";
}

async function load(promise) {
  try {
    status.textContent = "";
    show(await promise);
  } catch (err) {
    status.textContent = `${err.title || "Problem"}: ${err.message}`;
  }
}

let timer;
document.getElementById("search").addEventListener("input", (event) => {
  clearTimeout(timer);
  const text = event.target.value.trim();
  timer = setTimeout(() => load(text ? searchRecords(m, text) : pinnedAndRecent(m)), 300);
});
load(pinnedAndRecent(m));
