// "Track in CRM" for Outlook (Office.js). The add-in never talks to the CRM or to CRM Bridge:
// it puts a category on the message, and the bridge — watching the mailbox over EWS or Graph —
// tracks it and swaps the category for "Tracked in CRM". The bridge has already added these
// categories to the mailbox's master list (an unknown name fails with InvalidCategory).
//
// item.categories needs requirement set Mailbox 1.8 and ReadWriteItem; Exchange Server on
// premises offers at most 1.5, so the manifest installs from 1.1 and this file feature-detects.
// A classic script in Outlook (functions on `CrmTrack`), a CommonJS module under Node's tests.
(function (root, factory) {
  const api = factory(root);
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.CrmTrack = api;
})(typeof globalThis !== "undefined" ? globalThis : this, function (root) {
  "use strict";

  const TRACK_CATEGORY = "Track in CRM";
  const REGARDING_PREFIX = "CRM \u25b8 ";
  const NOTICE_KEY = "crmTrack";

  class TrackError extends Error {
    constructor(title, message) {
      super(message);
      this.title = title;
    }
  }

  function office() {
    if (!root.Office || !root.Office.context || !root.Office.context.mailbox) {
      throw new TrackError("Outlook only", "This add-in runs inside Outlook.");
    }
    return root.Office;
  }

  function supports(version) {
    const requirements = office().context.requirements;
    return Boolean(requirements && requirements.isSetSupported("Mailbox", version));
  }

  // Office's callback style as a promise; a failure keeps Office's error name (e.g. InvalidCategory).
  function call(fn) {
    return new Promise((resolve, reject) => {
      fn((result) => {
        if (result && result.status === "failed") {
          const error = result.error || {};
          reject(Object.assign(new Error(error.message || "Outlook refused."), { name: error.name || error.code || "Failed" }));
        } else {
          resolve(result ? result.value : undefined);
        }
      });
    });
  }

  function explain(err, name) {
    if (err instanceof TrackError) return err;
    if (err.name === "InvalidCategory" || /InvalidCategory/.test(err.message)) {
      return new TrackError(
        "Category missing",
        `"${name}" is not in your category list yet. Start CRM Bridge once (it adds its categories), then try again.`,
      );
    }
    return new TrackError("Not tracked", err.message || String(err));
  }

  const UNSUPPORTED = new TrackError(
    "Not available here",
    "This Outlook or its mail server does not let add-ins set categories (that needs Mailbox 1.8; " +
      `Exchange Server on premises offers 1.5). Put the category "${TRACK_CATEGORY}" on the message ` +
      "yourself — as a Quick Click category it is one click — and CRM Bridge tracks it.",
  );

  /** Put `name` (default "Track in CRM") on the open message; resolves with its ids. */
  async function trackCurrentItem(name) {
    const category = name || TRACK_CATEGORY;
    const item = office().context.mailbox.item;
    if (!item) throw new TrackError("No message", "Open or select a message first.");
    if (!supports("1.8")) throw UNSUPPORTED;
    try {
      await call((cb) => item.categories.addAsync([category], cb));
    } catch (err) {
      throw explain(err, category);
    }
    return { category, internetMessageId: item.internetMessageId, itemId: item.itemId };
  }

  /** A notice in the message's info bar (Mailbox 1.3; every client that shows the button has it). */
  function notify(text, isError) {
    const Office = office();
    const item = Office.context.mailbox.item;
    if (!item || !item.notificationMessages) return Promise.resolve();
    const types = (Office.MailboxEnums && Office.MailboxEnums.ItemNotificationMessageType) || {};
    const notice = isError
      ? { type: types.ErrorMessage || "errorMessage", message: text.slice(0, 150) }
      : {
          type: types.InformationalMessage || "informationalMessage",
          message: text.slice(0, 150),
          icon: "Icon.16x16",
          persistent: false,
        };
    return call((cb) => item.notificationMessages.replaceAsync(NOTICE_KEY, notice, cb)).catch(() => undefined);
  }

  /** The read-surface button (ExecuteFunction): must call event.completed() whatever happens. */
  async function onTrackButton(event) {
    try {
      await trackCurrentItem(TRACK_CATEGORY);
      await notify("CRM Bridge will track this message in a moment.", false);
    } catch (err) {
      const e = explain(err, TRACK_CATEGORY);
      await notify(`${e.title}: ${e.message}`, true);
    } finally {
      event.completed();
    }
  }

  /** The Regarding categories in the master list (needs ReadWriteMailbox: the full manifest). */
  async function regardingCategories() {
    const Office = office();
    if (!supports("1.8")) throw UNSUPPORTED;
    const all = await call((cb) => Office.context.mailbox.masterCategories.getAsync(cb));
    return (all || [])
      .map((c) => c.displayName)
      .filter((n) => typeof n === "string" && n.startsWith(REGARDING_PREFIX))
      .sort((a, b) => a.localeCompare(b));
  }

  /**
   * Put `name` on every selected message (Mailbox 1.13 + 1.15, ReadWriteMailbox); where the
   * platform cannot (Mac, older builds), on the open message only. Resolves with a count.
   */
  async function applyToSelection(name) {
    const Office = office();
    const mailbox = Office.context.mailbox;
    if (!(supports("1.13") && supports("1.15"))) {
      await trackCurrentItem(name);
      return { done: 1, failed: 0, selection: false };
    }
    const selected = await call((cb) => mailbox.getSelectedItemsAsync(cb));
    let done = 0;
    let failed = 0;
    for (const entry of selected || []) {
      // One loaded item at a time: unload before the next (loadItemByIdAsync's rule).
      let loaded;
      try {
        loaded = await call((cb) => mailbox.loadItemByIdAsync(entry.itemId, cb));
        await call((cb) => loaded.categories.addAsync([name], cb));
        done += 1;
      } catch (err) {
        failed += 1;
      } finally {
        if (loaded) await call((cb) => loaded.unloadAsync(cb)).catch(() => undefined);
      }
    }
    return { done, failed, selection: true };
  }

  return {
    TRACK_CATEGORY,
    REGARDING_PREFIX,
    TrackError,
    trackCurrentItem,
    onTrackButton,
    regardingCategories,
    applyToSelection,
    notify,
  };
});
