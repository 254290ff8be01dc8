// End to end, run by tests/integration/test_outlook_addin.py: the Outlook handlers, driven through
// office-addin-mock, set categories on a message of the sandbox mailbox. Where Outlook would
// write the item through its own server, the mock writes it through the sandbox's Graph face
// (PATCH /me/messages/{id}); the bridge, watching the mailbox, then tracks the message.
import assert from "node:assert/strict";
import { test } from "node:test";

import { CrmTrack, completedEvent, outlook } from "./office_mock.mjs";

const env = process.env;

async function patchCategories(itemId, add) {
  const url = `${env.CRM_BRIDGE_TEST_GRAPH}/me/messages/${encodeURIComponent(itemId)}`;
  const headers = { Authorization: `Bearer ${env.CRM_BRIDGE_TEST_TOKEN}`, "Content-Type": "application/json" };
  const current = await (await fetch(`${url}?$select=categories`, { headers })).json();
  const body = JSON.stringify({ categories: [...(current.categories || []), ...add] });
  const answer = await fetch(url, { method: "PATCH", headers, body });
  return answer.ok ? { status: "succeeded" } : { status: "failed", error: { name: "GenericResponseError", message: await answer.text() } };
}

function serverItem(itemId) {
  return {
    itemId,
    categories: {
      addAsync(names, cb) { patchCategories(itemId, names).then(cb); },
    },
    unloadAsync(cb) { cb({ status: "succeeded" }); },
  };
}

test("the button's category and a Regarding category from the task pane reach the mailbox", async () => {
  assert.ok(env.CRM_BRIDGE_TEST_GRAPH, "run this through pytest (it starts the sandboxes)");
  outlook({ item: { ...serverItem(env.CRM_BRIDGE_TEST_ITEM), notificationMessages: { replaceAsync: (k, n, cb) => cb({ status: "succeeded" }) } } });
  const event = completedEvent();
  await CrmTrack.onTrackButton(event);
  assert.equal(event.done, 1);

  outlook({
    sets: ["1.1", "1.3", "1.5", "1.8", "1.13", "1.15"],
    mailbox: {
      getSelectedItemsAsync(cb) { cb({ status: "succeeded", value: [{ itemId: env.CRM_BRIDGE_TEST_ITEM2 }] }); },
      loadItemByIdAsync(id, cb) { cb({ status: "succeeded", value: serverItem(id) }); },
    },
  });
  const result = await CrmTrack.applyToSelection(env.CRM_BRIDGE_TEST_REGARDING);
  assert.deepEqual(result, { done: 1, failed: 0, selection: true });
});
