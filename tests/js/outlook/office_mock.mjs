// The one seam for Outlook: Office.js through Microsoft's office-addin-mock (OfficeMockObject).
// The mock keeps the functions given here; it defines no enums, so none are relied upon.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { OfficeMockObject } = require("office-addin-mock");
export const CrmTrack = require("../../../resources/mail-clients/outlook/track.js");

export function outlook({ sets = ["1.1", "1.3", "1.5", "1.8"], item = {}, mailbox = {} } = {}) {
  const notices = [];
  const data = {
    host: "outlook",
    context: {
      requirements: { isSetSupported: (name, version) => name === "Mailbox" && sets.includes(version) },
      mailbox: {
        item: {
          itemId: "AAMkAGI2",
          internetMessageId: "<a@example.com>",
          categories: {
            added: [],
            addAsync(names, cb) {
              this.added = this.added.concat(names);
              cb({ status: "succeeded" });
            },
          },
          notificationMessages: {
            replaceAsync(key, notice, cb) {
              notices.push({ key, ...notice });
              cb({ status: "succeeded" });
            },
          },
          ...item,
        },
        ...mailbox,
      },
    },
  };
  const mock = new OfficeMockObject(data);
  globalThis.Office = mock;
  return { mock, notices };
}

export function completedEvent() {
  const event = { done: 0, completed() { this.done += 1; } };
  return event;
}
