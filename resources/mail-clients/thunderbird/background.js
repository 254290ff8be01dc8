// The add-on's background: wires Thunderbird's events to lib/track.js (all logic lives there,
// so tests drive it through a faked `messenger`).
import { createMenus, onButtonClicked, onMenuClicked } from "./lib/track.js";

const m = globalThis.messenger;
m.runtime.onInstalled.addListener(() => createMenus(m));
m.messageDisplayAction.onClicked.addListener((tab) => onButtonClicked(m, tab));
m.menus.onClicked.addListener((info, tab) => onMenuClicked(m, info, tab));
