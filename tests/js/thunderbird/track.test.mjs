// The Thunderbird add-on's logic, driven through a faked `messenger` (fake_messenger.mjs).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  HOST,
  MENU_REGARDING,
  MENU_TRACK,
  createMenus,
  onButtonClicked,
  onMenuClicked,
  pinnedAndRecent,
  trackIdsWithRegarding,
} from "../../../resources/mail-clients/thunderbird/lib/track.js";
import { fakeMessenger } from "./fake_messenger.mjs";

const header = (id, mid = `msg-${id}@example.com`) => ({ id, headerMessageId: mid, subject: `Subject ${id}` });
const ACCOUNT = { table: "account", id: "0f8fad5b-d9cb-469f-a165-70867728950e", name: "Fabrikam, Inc.", kind: "Account" };

function answering(outcomes = {}) {
  return (host, request) => {
    assert.equal(host, HOST);
    if (request.action === "records") return { id: request.id, ok: true, pinned: [ACCOUNT], recent: [ACCOUNT] };
    return {
      id: request.id,
      ok: true,
      results: request.messages.map((m) => ({
        messageId: m.messageId,
        outcome: m.raw ? "tracked" : outcomes[m.messageId] || "tracked",
        activityId: "a-" + m.messageId,
        message: outcomes[m.messageId] === "not_found" && !m.raw ? "Not in the mailbox" : "Tracked",
      })),
    };
  };
}

test("the button tracks the displayed message and shows the answer", async () => {
  const { messenger, calls } = fakeMessenger({ displayed: [header(1)], native: answering() });
  const summary = await onButtonClicked(messenger, { id: 7 });
  assert.deepEqual(calls.native.map((c) => c.request.messages), [[{ messageId: "msg-1@example.com" }]]);
  assert.equal(calls.native[0].request.action, "track");
  assert.equal(calls.native[0].request.regarding, undefined);
  assert.deepEqual(summary, { text: "Tracked.", ok: true, badge: "✓" });
  assert.deepEqual(calls.badges, [{ tabId: 7, text: "✓" }]);
  assert.equal(calls.titles[0].title, "Track in CRM: Tracked.");
  assert.equal(calls.notifications[0].message, "Tracked.");
});

test("the list menu follows continueList and sends at most 100 messages a request", async () => {
  const many = Array.from({ length: 230 }, (_, n) => header(n + 1));
  const { messenger, calls, messageList } = fakeMessenger({ native: answering() });
  const summary = await onMenuClicked(messenger, { menuItemId: MENU_TRACK, selectedMessages: messageList(many) }, { id: 3 });
  assert.deepEqual(calls.native.map((c) => c.request.messages.length), [100, 100, 30]);
  const sent = calls.native.flatMap((c) => c.request.messages.map((m) => m.messageId));
  assert.deepEqual(sent, many.map((h) => h.headerMessageId));
  assert.equal(summary.text, "230 tracked.");
});

test("a message the bridge cannot see is sent again with its raw form", async () => {
  const raw = "From: a@b.example\r\nSubject: caf\u00e9\r\n\r\nbody\u00ff";
  const { messenger, calls } = fakeMessenger({
    displayed: [header(1), header(2, "local@pop3.example")],
    raw: { 2: raw },
    native: answering({ "local@pop3.example": "not_found" }),
  });
  const summary = await onButtonClicked(messenger, { id: 1 });
  assert.equal(calls.native.length, 2);
  assert.deepEqual(calls.getRaw, [{ id: 2, options: { data_format: "BinaryString" } }]);
  const retry = calls.native[1].request.messages;
  assert.deepEqual(retry.map((m) => m.messageId), ["local@pop3.example"]);
  assert.equal(Buffer.from(retry[0].raw, "base64").toString("latin1"), raw);
  assert.equal(summary.text, "2 tracked.");
});

test("refusals and an unreachable host are shown, never thrown", async () => {
  const refused = fakeMessenger({
    displayed: [header(1)],
    native: (host, request) => ({ id: request.id, ok: false, error: { title: "Set-up needed", message: "Profile 'default' is not set up yet." } }),
  });
  const summary = await onButtonClicked(refused.messenger, { id: 1 });
  assert.equal(summary.ok, false);
  assert.equal(summary.text, "Set-up needed: Profile 'default' is not set up yet.");
  assert.deepEqual(refused.calls.badges, [{ tabId: 1, text: "!" }]);

  const missing = fakeMessenger({
    displayed: [header(1)],
    native: () => { throw new Error("No such native application crm_bridge"); },
  });
  const answer = await onButtonClicked(missing.messenger, { id: 1 });
  assert.match(answer.text, /^CRM Bridge is not reachable: No such native application crm_bridge\. Register it/);
});

test("partial failures name the first problem", async () => {
  const { messenger } = fakeMessenger({
    displayed: [header(1), header(2), { id: 3, headerMessageId: "", subject: "x" }],
    native: (host, request) => ({
      id: request.id,
      ok: true,
      results: [
        { messageId: "msg-1@example.com", outcome: "already_tracked", message: "Already tracked" },
        { messageId: "msg-2@example.com", outcome: "failed", message: "The CRM refused it." },
      ],
    }),
  });
  const summary = await onButtonClicked(messenger, { id: 1 });
  assert.equal(summary.text, "1 already tracked, 1 failed, 1 skipped. The CRM refused it.");
  assert.equal(summary.badge, "!");
});

test("Track with Regarding opens the picker, which tracks with the chosen record", async () => {
  const headers = [header(4), header(5)];
  const { messenger, calls, messageList } = fakeMessenger({ headers, native: answering() });
  await onMenuClicked(messenger, { menuItemId: MENU_REGARDING, selectedMessages: messageList(headers) }, { id: 2 });
  assert.equal(calls.windows[0].url, "popup/regarding.html?messages=4%2C5");
  assert.deepEqual(await pinnedAndRecent(messenger), [ACCOUNT]); // pinned and recent, once each
  const ids = new URLSearchParams(calls.windows[0].url.split("?")[1]).get("messages").split(",").map(Number);
  const summary = await trackIdsWithRegarding(messenger, ids, ACCOUNT);
  const sent = calls.native.at(-1).request;
  assert.deepEqual(sent.regarding, { table: "account", id: ACCOUNT.id, name: "Fabrikam, Inc." });
  assert.deepEqual(sent.messages.map((m) => m.messageId), ["msg-4@example.com", "msg-5@example.com"]);
  assert.equal(summary.text, "2 tracked.");
  assert.equal(calls.notifications.at(-1).title, "Track in CRM (Fabrikam, Inc.)");
});

test("menus are created for the message list; the manifest asks for what the code uses", () => {
  const { messenger, calls } = fakeMessenger({ native: answering() });
  createMenus(messenger);
  assert.deepEqual(calls.menus.map((m) => [m.id, m.contexts]), [[MENU_TRACK, ["message_list"]], [MENU_REGARDING, ["message_list"]]]);
  const manifest = JSON.parse(
    readFileSync(fileURLToPath(new URL("../../../resources/mail-clients/thunderbird/manifest.json", import.meta.url)), "utf8"),
  );
  assert.equal(manifest.browser_specific_settings.gecko.id, "track-in-crm@crm-bridge");
  for (const p of ["messagesRead", "menus", "nativeMessaging", "notifications"]) assert.ok(manifest.permissions.includes(p), p);
});
