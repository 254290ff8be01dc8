// End to end, run by tests/integration/test_thunderbird_addon.py (which starts the sandboxes and
// a running bridge, registers the native host and passes its launcher here): a click on the
// add-on's button, through the faked `messenger`, reaches the real `crm-bridge native-host`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { onButtonClicked } from "../../../resources/mail-clients/thunderbird/lib/track.js";
import { fakeMessenger, nativeHost } from "./fake_messenger.mjs";

const env = process.env;

test("a click becomes one CRM e-mail; a second click finds it tracked; a local message goes raw", async () => {
  assert.ok(env.CRM_BRIDGE_TEST_LAUNCHER, "run this through pytest (it starts the sandboxes and the bridge)");
  const native = nativeHost(env.CRM_BRIDGE_TEST_LAUNCHER, env.CRM_BRIDGE_TEST_MANIFEST, "track-in-crm@crm-bridge");
  const shown = { id: 1, headerMessageId: env.CRM_BRIDGE_TEST_MESSAGE_ID, subject: "from the mailbox" };
  const local = { id: 2, headerMessageId: env.CRM_BRIDGE_TEST_LOCAL_ID, subject: "from a local folder" };
  const raw = Buffer.from(env.CRM_BRIDGE_TEST_LOCAL_RAW, "base64").toString("latin1");

  const first = fakeMessenger({ displayed: [shown], native });
  assert.deepEqual(await onButtonClicked(first.messenger, { id: 5 }), { text: "Tracked.", ok: true, badge: "✓" });
  assert.deepEqual(first.calls.badges, [{ tabId: 5, text: "✓" }]);

  const again = fakeMessenger({ displayed: [shown], native });
  assert.equal((await onButtonClicked(again.messenger, { id: 5 })).text, "Already tracked.");

  const pop3 = fakeMessenger({ displayed: [local], raw: { 2: raw }, native });
  assert.equal((await onButtonClicked(pop3.messenger, { id: 6 })).text, "Tracked.");
  assert.deepEqual(pop3.calls.native.map((c) => c.request.messages[0].raw !== undefined), [false, true]);
});
