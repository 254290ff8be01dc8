// The one seam: Thunderbird's `messenger` API, faked with just what the add-on calls.
// `native(host, request)` answers runtime.sendNativeMessage; everything else is recorded.
import { spawn } from "node:child_process";
import { endianness } from "node:os";

export function fakeMessenger({ headers = [], displayed = [], pageSize = 100, raw = {}, native }) {
  const calls = { native: [], notifications: [], badges: [], titles: [], windows: [], menus: [], getRaw: [] };
  const pages = new Map();
  let pageCounter = 0;
  function messageList(list) {
    // Thunderbird pages long lists: the first page and an id for messages.continueList.
    const first = list.slice(0, pageSize);
    let rest = list.slice(pageSize);
    let id = null;
    if (rest.length) {
      id = `page-${++pageCounter}`;
      let key = id;
      while (rest.length) {
        const next = rest.length > pageSize ? `page-${++pageCounter}` : null;
        pages.set(key, { id: next, messages: rest.slice(0, pageSize) });
        rest = rest.slice(pageSize);
        key = next;
      }
    }
    return { id, messages: first };
  }
  const listeners = () => ({ listeners: [], addListener(fn) { this.listeners.push(fn); } });
  const messenger = {
    runtime: {
      onInstalled: listeners(),
      async sendNativeMessage(host, request) {
        calls.native.push({ host, request: JSON.parse(JSON.stringify(request)) });
        return native(host, request);
      },
    },
    messages: {
      async continueList(id) {
        if (!pages.has(id)) throw new Error(`unknown list ${id}`);
        return pages.get(id);
      },
      async getRaw(id, options) {
        calls.getRaw.push({ id, options });
        if (!(id in raw)) throw new Error(`message ${id} has no raw form here`);
        return raw[id];
      },
      async get(id) {
        const found = headers.find((h) => h.id === id);
        if (!found) throw new Error(`no message ${id}`);
        return found;
      },
    },
    messageDisplay: {
      async getDisplayedMessages() {
        return messageList(displayed);
      },
    },
    messageDisplayAction: {
      onClicked: listeners(),
      async setBadgeText(details) { calls.badges.push(details); },
      async setTitle(details) { calls.titles.push(details); },
    },
    menus: {
      onClicked: listeners(),
      create(props) { calls.menus.push(props); },
    },
    notifications: {
      async create(options) { calls.notifications.push(options); return "n"; },
    },
    windows: {
      async create(options) { calls.windows.push(options); return { id: 9 }; },
    },
  };
  return { messenger, calls, messageList };
}

// runtime.sendNativeMessage as Thunderbird does it (NativeMessaging.sys.mjs): start the host from
// its manifest with (manifest path, add-on id), write one framed request, read the first framed
// reply, then close stdin.
export function nativeHost(launcher, manifestPath, addonId, env = process.env) {
  return (host, request) =>
    new Promise((resolve, reject) => {
      const child = spawn(launcher, [manifestPath, addonId], { env, stdio: ["pipe", "pipe", "pipe"] });
      const body = Buffer.from(JSON.stringify(request), "utf8");
      const header = Buffer.alloc(4);
      if (endianness() === "LE") header.writeUInt32LE(body.length);
      else header.writeUInt32BE(body.length);
      let out = Buffer.alloc(0);
      let err = "";
      let done = false;
      child.stderr.on("data", (d) => { err += d; });
      child.stdout.on("data", (chunk) => {
        out = Buffer.concat([out, chunk]);
        if (done || out.length < 4) return;
        const size = endianness() === "LE" ? out.readUInt32LE(0) : out.readUInt32BE(0);
        if (size > 1024 * 1024) { done = true; reject(new Error("reply over 1 MiB")); child.kill(); return; }
        if (out.length >= 4 + size) {
          done = true;
          resolve(JSON.parse(out.subarray(4, 4 + size).toString("utf8")));
          child.stdin.end();
        }
      });
      child.on("exit", (code) => {
        if (!done) reject(new Error(`native host ${host} exited with ${code} without answering: ${err}`));
      });
      child.stdin.write(Buffer.concat([header, body]));
    });
}
