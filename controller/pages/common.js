// Shared by the tablet and the console: language, token, API calls, the live socket.
"use strict";

const Roomctl = (() => {
  const texts = {"zh-CN": {}, en: {}};

  function addTexts(more) {
    for (const lang of Object.keys(texts)) Object.assign(texts[lang], more[lang] || {});
  }

  function language() {
    const asked = new URLSearchParams(location.search).get("lang");
    if (asked === "en" || asked === "zh-CN" || asked === "zh") return asked === "zh" ? "zh-CN" : asked;
    const saved = localStorage.getItem("roomctl-lang");
    if (saved && texts[saved]) return saved;
    return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  }

  function setLanguage(lang) {
    localStorage.setItem("roomctl-lang", lang);
    const url = new URL(location.href);
    url.searchParams.delete("lang");
    history.replaceState(null, "", url.pathname + url.search);
    document.documentElement.lang = lang;
  }

  function t(key, values) {
    let text = texts[language()][key];
    if (text === undefined) text = texts.en[key] !== undefined ? texts.en[key] : key;
    for (const [k, v] of Object.entries(values || {})) text = text.split("{" + k + "}").join(v);
    return text;
  }

  // A message in both languages, as the API gives them: {en, zh}.
  function pick(message) {
    if (!message) return "";
    if (typeof message === "string") return message;
    return (language() === "en" ? message.en : message.zh) || message.en || "";
  }

  // The token arrives in the URL fragment (#token=...), which the browser never sends to the
  // server; it is kept in `storage` (a room's tablet: localStorage, it survives a reboot; the
  // console on a shared PC: sessionStorage, it ends with the tab).
  function takeToken(storage, key) {
    const fragment = new URLSearchParams(location.hash.slice(1));
    if (fragment.get("token")) {
      storage.setItem(key, fragment.get("token"));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return storage.getItem(key) || "";
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || ("HTTP " + status));
      this.status = status;
      this.body = body || {};
    }
  }

  function client(getToken) {
    return async function api(path, options) {
      const init = Object.assign({method: "GET", headers: {}}, options || {});
      const token = getToken();
      if (token) init.headers.Authorization = "Bearer " + token;
      if (init.json !== undefined) {
        init.method = init.method === "GET" ? "POST" : init.method;
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(init.json);
        delete init.json;
      }
      let response;
      try {
        response = await fetch(path, init);
      } catch (e) {
        throw new ApiError(0, {message: t("unreachable")});
      }
      const body = response.headers.get("content-type") && response.headers.get("content-type").includes("json")
        ? await response.json().catch(() => null) : null;
      if (!response.ok) throw new ApiError(response.status, body);
      return body;
    };
  }

  // The live socket: says who we are, hands each message to onMessage, reconnects with backoff
  // (0.5 s doubling to 10 s, with jitter) and treats a link silent for 3 pings as dead.
  function connect({getToken, rooms, onMessage, onState}) {
    let delay = 500, attempt = 0, socket = null, watchdog = null, pingEvery = 10, stopped = false;
    function arm() {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => socket && socket.close(4000, "silent"), pingEvery * 3000);
    }
    function open() {
      attempt += 1;
      onState("connecting", {attempt});
      socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/live");
      socket.onopen = () => {
        socket.send(JSON.stringify(rooms ? {token: getToken(), rooms} : {token: getToken()}));
        arm();
      };
      socket.onmessage = event => {
        arm();
        for (const message of JSON.parse(event.data)) {
          if (message.type === "hello") {
            delay = 500; attempt = 0; pingEvery = message.ping_every || 10;
            onState("live", message);
          }
          if (message.type !== "ping") onMessage(message);
        }
      };
      socket.onclose = event => {
        clearTimeout(watchdog);
        if (stopped) return;
        if (event.code === 4403 || event.code === 4401) { onState("denied", {code: event.code}); return; }
        const wait = delay * (0.8 + Math.random() * 0.4);
        onState("offline", {attempt, retryIn: wait});
        setTimeout(open, wait);
        delay = Math.min(delay * 2, 10000);
      };
    }
    open();
    return {stop() { stopped = true; clearTimeout(watchdog); if (socket) socket.close(); },
            reconnect() { if (socket) socket.close(4000, "again"); }};
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attributes || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "style") Object.assign(node.style, v);  // CSSOM: allowed by the pages' CSP
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "for") node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function time(iso) {
    if (!iso) return "";
    return new Date(iso).toLocaleTimeString(language() === "en" ? "en-GB" : "zh-CN",
                                            {hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }

  function dateTime(iso) {
    if (!iso) return "";
    return new Date(iso).toLocaleString(language() === "en" ? "en-GB" : "zh-CN",
                                        {month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit"});
  }

  // Calls `fn` once, `ms` after the last of a burst of calls.
  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  // The parts every page shares: the language button and the name-and-PIN sign-in form.
  function frameTexts() {
    document.documentElement.lang = language();
    for (const [id, key] of [["lang", "language"], ["login-title", "signInTitle"], ["login-user-label", "user"],
                             ["login-pin-label", "pin"], ["login-submit", "signIn"]]) {
      document.getElementById(id).textContent = t(key);
    }
  }

  addTexts({
    "zh-CN": {unreachable: "无法连接控制器", connecting: "正在连接…", live: "已连接", offline: "控制器无法连接",
              retrying: "正在重新连接（第 {n} 次，{s} 秒后）…", denied: "令牌无效或已过期", language: "English",
              signIn: "登录", user: "姓名", pin: "PIN 码", signOut: "退出", signInTitle: "请用姓名和 PIN 码登录"},
    en: {unreachable: "Cannot reach the controller", connecting: "Connecting…", live: "Connected",
         offline: "The controller cannot be reached", retrying: "Reconnecting (attempt {n}, in {s} s)…",
         denied: "Token refused or expired", language: "中文", signIn: "Sign in", user: "Name", pin: "PIN",
         signOut: "Sign out", signInTitle: "Sign in with your name and PIN"},
  });

  return {addTexts, frameTexts, language, setLanguage, t, pick, takeToken, ApiError, client, connect, el, time, dateTime,
          debounce};
})();
