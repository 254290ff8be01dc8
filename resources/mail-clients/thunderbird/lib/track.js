// "Track in CRM" for Thunderbird: what a click does, written against `messenger` passed in
// (the one seam the tests fake).
//
// A click sends the messages' header Message-IDs to CRM Bridge's native host
// (`crm-bridge native-host`, registered as "crm_bridge"). When the bridge does not find a
// message in the mailbox it watches (another account, a local folder, POP3), the host answers
// "not_found" and the add-on sends the raw message instead, one per request. The answer shows
// on the button (badge and tooltip) and in a notification.

export const HOST = "crm_bridge";
export const MAX_PER_REQUEST = 100; // the host's limit
export const MENU_TRACK = "crm-track";
export const MENU_REGARDING = "crm-track-regarding";

export class HostError extends Error {
  constructor(title, message) {
    super(message);
    this.title = title;
  }
}

let counter = 0;

/** One request to the native host; a refusal becomes a HostError with its title and message. */
export async function ask(m, request) {
  let reply;
  try {
    reply = await m.runtime.sendNativeMessage(HOST, { id: `tb-${++counter}`, ...request });
  } catch (err) {
    // Thunderbird's own words for a missing or broken host: "No such native application …".
    throw new HostError(
      "CRM Bridge is not reachable",
      `${err && err.message ? err.message : err}. Register it in CRM Bridge (Settings, or ` +
        "`crm-bridge native-messaging register`).",
    );
  }
  if (!reply || typeof reply !== "object") {
    throw new HostError("No answer", "CRM Bridge did not answer.");
  }
  if (reply.ok !== true) {
    const error = reply.error || {};
    throw new HostError(error.title || "Refused", error.message || "CRM Bridge refused the request.");
  }
  return reply;
}

/** Every message of a MessageList, following `messages.continueList` pages. */
export async function allMessages(m, list) {
  if (Array.isArray(list)) return list; // MV2's getDisplayedMessages returns an array
  const messages = [...(list.messages || [])];
  let id = list.id;
  while (id) {
    const page = await m.messages.continueList(id);
    messages.push(...(page.messages || []));
    id = page.id;
  }
  return messages;
}

/** The raw message as base64 (getRaw's BinaryString holds one byte per character). */
export async function rawBase64(m, messageId) {
  const binary = await m.messages.getRaw(messageId, { data_format: "BinaryString" });
  return btoa(binary);
}

function plainRecord(record) {
  if (!record) return undefined;
  const out = { table: record.table, id: record.id };
  if (record.name) out.name = record.name;
  return out;
}

/**
 * Track messages (MessageHeader objects); returns one result per message:
 * {header, outcome, message, activityId}. outcome: tracked, already_tracked, queued, failed,
 * not_found, skipped.
 */
export async function trackMessages(m, headers, regarding = null) {
  const results = new Map();
  const usable = [];
  for (const header of headers) {
    if (!header.headerMessageId) {
      results.set(header, { header, outcome: "skipped", message: "The message has no Message-ID." });
    } else {
      usable.push(header);
    }
  }
  for (let start = 0; start < usable.length; start += MAX_PER_REQUEST) {
    const chunk = usable.slice(start, start + MAX_PER_REQUEST);
    const request = { action: "track", messages: chunk.map((h) => ({ messageId: h.headerMessageId })) };
    if (regarding) request.regarding = plainRecord(regarding);
    const reply = await ask(m, request);
    chunk.forEach((header, n) => {
      const r = reply.results[n] || { outcome: "failed", message: "No answer for this message." };
      results.set(header, { header, outcome: r.outcome, message: r.message || "", activityId: r.activityId });
    });
  }
  // Not in the mailbox the bridge watches: send the message itself, one per request.
  for (const header of usable) {
    if (results.get(header).outcome !== "not_found") continue;
    let raw;
    try {
      raw = await rawBase64(m, header.id);
    } catch (err) {
      results.set(header, { header, outcome: "failed", message: `Cannot read the message: ${err.message || err}` });
      continue;
    }
    const request = { action: "track", messages: [{ messageId: header.headerMessageId, raw }] };
    if (regarding) request.regarding = plainRecord(regarding);
    const reply = await ask(m, request);
    const r = reply.results[0];
    results.set(header, { header, outcome: r.outcome, message: r.message || "", activityId: r.activityId });
  }
  return headers.map((h) => results.get(h));
}

const WORDS = {
  tracked: "tracked",
  already_tracked: "already tracked",
  queued: "queued (the CRM is busy; it will be tracked)",
  failed: "failed",
  not_found: "not found",
  skipped: "skipped",
};

/** What the user sees: a short sentence, a badge and whether everything went well. */
export function summarize(results) {
  const counts = {};
  for (const r of results) counts[r.outcome] = (counts[r.outcome] || 0) + 1;
  const parts = Object.keys(WORDS)
    .filter((k) => counts[k])
    .map((k) => `${counts[k]} ${WORDS[k]}`);
  const problems = results.filter((r) => ["failed", "not_found", "skipped"].includes(r.outcome));
  let text = results.length === 1 ? `${WORDS[results[0].outcome] || results[0].outcome}` : parts.join(", ");
  text = text.charAt(0).toUpperCase() + text.slice(1) + ".";
  if (problems.length) text += ` ${problems[0].message}`;
  const ok = problems.length === 0;
  return { text, ok, badge: ok ? "✓" : "!" };
}

/** Show the outcome on the button (per tab) and in a notification. */
export async function report(m, tabId, title, summary) {
  if (tabId !== undefined && tabId !== null) {
    await m.messageDisplayAction.setBadgeText({ tabId, text: summary.badge });
    await m.messageDisplayAction.setTitle({ tabId, title: `${title}: ${summary.text}` });
  }
  await m.notifications.create({ type: "basic", title, message: summary.text });
}

async function trackAndReport(m, tabId, headers, regarding) {
  const title = regarding ? `Track in CRM (${regarding.name || regarding.table})` : "Track in CRM";
  try {
    const results = await trackMessages(m, headers, regarding);
    const summary = summarize(results);
    await report(m, tabId, title, summary);
    return summary;
  } catch (err) {
    const summary = { text: `${err.title || "Not tracked"}: ${err.message}`, ok: false, badge: "!" };
    await report(m, tabId, title, summary);
    return summary;
  }
}

/** The message display action: track the message(s) shown in that tab. */
export async function onButtonClicked(m, tab) {
  const shown = await allMessages(m, await m.messageDisplay.getDisplayedMessages(tab.id));
  return trackAndReport(m, tab.id, shown, null);
}

/** The message list's context menu. */
export async function onMenuClicked(m, info, tab) {
  const selected = info.selectedMessages ? await allMessages(m, info.selectedMessages) : [];
  if (info.menuItemId === MENU_TRACK) {
    return trackAndReport(m, tab ? tab.id : null, selected, null);
  }
  if (info.menuItemId === MENU_REGARDING) {
    const ids = selected.map((h) => h.id).join(",");
    await m.windows.create({
      url: `popup/regarding.html?messages=${encodeURIComponent(ids)}`,
      type: "popup",
      width: 420,
      height: 520,
    });
  }
  return null;
}

/** The picker: track these message ids with the chosen record. */
export async function trackIdsWithRegarding(m, ids, regarding) {
  const headers = [];
  for (const id of ids) headers.push(await m.messages.get(id));
  return trackAndReport(m, null, headers, regarding);
}

export async function pinnedAndRecent(m) {
  const reply = await ask(m, { action: "records" });
  const seen = new Set();
  const records = [];
  for (const r of [...reply.pinned, ...reply.recent]) {
    const key = `${r.table}:${r.id}`;
    if (!seen.has(key)) {
      seen.add(key);
      records.push(r);
    }
  }
  return records;
}

export async function searchRecords(m, text) {
  const reply = await ask(m, { action: "search", text: String(text).slice(0, 200), limit: 20 });
  return reply.records;
}

export function createMenus(m) {
  m.menus.create({ id: MENU_TRACK, title: "Track in CRM", contexts: ["message_list"] });
  m.menus.create({ id: MENU_REGARDING, title: "Track with Regarding…", contexts: ["message_list"] });
}
