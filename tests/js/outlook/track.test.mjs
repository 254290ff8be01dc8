// The Outlook add-in's handlers, driven through office-addin-mock.
import assert from "node:assert/strict";
import { test } from "node:test";

import { CrmTrack, completedEvent, outlook } from "./office_mock.mjs";

test("the button puts Track in CRM on the message and says so", async () => {
  const { mock, notices } = outlook();
  const event = completedEvent();
  await CrmTrack.onTrackButton(event);
  assert.deepEqual(mock.context.mailbox.item.categories.added, ["Track in CRM"]);
  assert.equal(event.done, 1);
  assert.equal(notices.length, 1);
  assert.equal(notices[0].type, "informationalMessage");
  assert.match(notices[0].message, /CRM Bridge will track this message/);
});

test("trackCurrentItem returns the ids the bridge will see", async () => {
  outlook();
  assert.deepEqual(await CrmTrack.trackCurrentItem(), {
    category: "Track in CRM",
    internetMessageId: "<a@example.com>",
    itemId: "AAMkAGI2",
  });
});

test("on Exchange Server on premises (Mailbox 1.5) it explains the Quick Click way and sets nothing", async () => {
  const { mock, notices } = outlook({ sets: ["1.1", "1.3", "1.5"] });
  const event = completedEvent();
  await CrmTrack.onTrackButton(event);
  assert.deepEqual(mock.context.mailbox.item.categories.added, []);
  assert.equal(event.done, 1);
  assert.equal(notices[0].type, "errorMessage");
  assert.match(notices[0].message, /^Not available here: .*Mailbox 1\.8/);
  await assert.rejects(CrmTrack.trackCurrentItem(), (e) => e.title === "Not available here" && /Quick Click/.test(e.message));
});

test("a category missing from the master list is explained, and the event still completes", async () => {
  const { notices } = outlook({
    item: {
      categories: {
        addAsync(names, cb) {
          cb({ status: "failed", error: { name: "InvalidCategory", message: "The category is invalid." } });
        },
      },
    },
  });
  const event = completedEvent();
  await CrmTrack.onTrackButton(event);
  assert.equal(event.done, 1);
  assert.match(notices[0].message, /^Category missing: "Track in CRM" is not in your category list yet/);
});

test("the task pane lists only Regarding categories from the master list", async () => {
  outlook({
    mailbox: {
      masterCategories: {
        getAsync(cb) {
          cb({
            status: "succeeded",
            value: [
              { displayName: "Red category", color: "preset0" },
              { displayName: "CRM \u25b8 Northwind", color: "preset7" },
              { displayName: "Track in CRM", color: "preset7" },
              { displayName: "CRM \u25b8 Fabrikam, Inc.", color: "preset7" },
            ],
          });
        },
      },
    },
  });
  assert.deepEqual(await CrmTrack.regardingCategories(), ["CRM \u25b8 Fabrikam, Inc.", "CRM \u25b8 Northwind"]);
});

test("several selected messages get the category one loaded item at a time", async () => {
  const log = [];
  const loaded = (id) => ({
    categories: { addAsync(names, cb) { log.push(["add", id, ...names]); cb({ status: id === "bad" ? "failed" : "succeeded", error: { name: "AccessDenied" } }); } },
    unloadAsync(cb) { log.push(["unload", id]); cb({ status: "succeeded" }); },
  });
  outlook({
    sets: ["1.1", "1.3", "1.5", "1.8", "1.13", "1.15"],
    mailbox: {
      getSelectedItemsAsync(cb) { cb({ status: "succeeded", value: [{ itemId: "one" }, { itemId: "bad" }, { itemId: "two" }] }); },
      loadItemByIdAsync(id, cb) { log.push(["load", id]); cb({ status: "succeeded", value: loaded(id) }); },
    },
  });
  const result = await CrmTrack.applyToSelection("CRM \u25b8 Fabrikam, Inc.");
  assert.deepEqual(result, { done: 2, failed: 1, selection: true });
  assert.deepEqual(log.filter((e) => e[0] !== "add").map((e) => e.join(" ")), [
    "load one", "unload one", "load bad", "unload bad", "load two", "unload two",
  ]);
});

test("without 1.13/1.15 (Mac, older builds) only the open message is changed", async () => {
  const { mock } = outlook({ sets: ["1.1", "1.3", "1.5", "1.8", "1.13", "1.14"] });
  assert.deepEqual(await CrmTrack.applyToSelection("CRM \u25b8 Northwind"), { done: 1, failed: 0, selection: false });
  assert.deepEqual(mock.context.mailbox.item.categories.added, ["CRM \u25b8 Northwind"]);
});
