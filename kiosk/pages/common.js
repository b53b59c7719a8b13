// Shared by the kiosk, staff and big-screen pages: token, language, API calls, live socket.
"use strict";

const SETTINGS = window.KIOSK_SETTINGS;

const TEXT = {
  "zh-CN": {
    ready: "请扫描代表证或邀请函二维码", readySub: "Please scan your badge",
    ok: "签到成功", already_checked_in: "已签到", invalid: "无法识别的证件", revoked: "证件已挂失作废",
    not_on_list: "不在本场名单中", outside_window: "不在签到时间内", blocked: "请到服务台咨询",
    okExit: "离场已登记", seat: "座位", at: "于", atDesk: "在", checkedInAt: "已于 {at} 在 {kiosk} 签到",
    seeStaff: "请联系工作人员", manual: "手动输入", search: "姓名查找", typeCode: "输入证件码", submit: "确定",
    cancel: "取消", typeName: "输入姓名（至少 {n} 个字）", pin: "主管密码", reason: "原因", noBadge: "未带证件",
    signIn: "签到", late: "迟到", offline: "离线：签到结果将在网络恢复后上传", wrongPin: "密码错误",
    expected: "应到", signedIn: "已签到", present: "在场", lateCount: "迟到", notArrived: "未到",
    conflicts: "冲突", lateList: "迟到名单", recent: "最近扫描", overrides: "补签与放行", vips: "贵宾到达",
    vipArrived: "贵宾到达", scanners: "扫描枪", sync: "同步", connected: "已连接", disconnected: "未连接",
    headcount: "实到人数", of: "应到", exportCsv: "导出签到表 CSV", exportXlsx: "导出签到表 Excel",
    none: "无", time: "时间", desk: "签到台", name: "姓名", organisation: "单位", result: "结果",
    staffName: "经办", signInLate: "补签迟到人员", forbidden: "需要管理员权限", first: "先", second: "后",
    searchNone: "没有找到", error: "出错了，请重试", denied: "令牌无效或无权限",
  },
  en: {
    ready: "Please scan your badge or invitation", readySub: "请扫描代表证",
    ok: "Welcome", already_checked_in: "Already checked in", invalid: "Badge not recognised",
    revoked: "This badge has been cancelled", not_on_list: "Not on this list", outside_window: "Sign-in is not open",
    blocked: "Please see the help desk", okExit: "Exit recorded", seat: "Seat", at: "at", atDesk: "at",
    checkedInAt: "Checked in at {at}, desk {kiosk}", seeStaff: "Please ask a member of staff", manual: "Type code",
    search: "Find by name", typeCode: "Badge code", submit: "OK", cancel: "Cancel",
    typeName: "Type a name (at least {n} characters)", pin: "Supervisor PIN", reason: "Reason", noBadge: "No badge",
    signIn: "Sign in", late: "Late", offline: "Offline: check-ins upload when the network returns",
    wrongPin: "Wrong PIN", expected: "Expected", signedIn: "Signed in", present: "Present", lateCount: "Late",
    notArrived: "Not arrived", conflicts: "Conflicts", lateList: "Late arrivals", recent: "Recent scans",
    overrides: "Overrides", vips: "VIP arrivals", vipArrived: "VIP arrived", scanners: "Scanners", sync: "Sync",
    connected: "connected", disconnected: "disconnected", headcount: "Present", of: "of",
    exportCsv: "Sign-in sheet CSV", exportXlsx: "Sign-in sheet Excel", none: "none", time: "Time", desk: "Desk",
    name: "Name", organisation: "Organisation", result: "Result", staffName: "Staff",
    signInLate: "Sign in a latecomer", forbidden: "Needs the admin role", first: "first", second: "then",
    searchNone: "Nobody found", error: "Something went wrong, please try again", denied: "Token refused",
  },
};

function language() {
  const asked = new URLSearchParams(location.search).get("lang");
  return TEXT[asked] ? asked : SETTINGS.language;
}

function t(key, values) {
  let text = (TEXT[language()] || TEXT.en)[key] || key;
  for (const [k, v] of Object.entries(values || {})) text = text.replace("{" + k + "}", v);
  return text;
}

// The token comes in the URL fragment (#token=...), which the browser never sends to the server.
function token() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem("roomctl-token", fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("roomctl-token") || "";
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || ("HTTP " + status));
    this.status = status;
    this.body = body || {};
  }
}

async function api(path, options) {
  const init = Object.assign({headers: {}}, options || {});
  init.headers = Object.assign({"Authorization": "Bearer " + token()}, init.headers);
  if (init.json !== undefined) {
    init.method = init.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(init.json);
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    throw new ApiError(response.status, body);
  }
  return response;
}

function nonce() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, "0")).join("");
}

// The live socket: says who we are, then hands every message to onMessage; reconnects.
function live(page, onMessage, onState) {
  let delay = 250;
  function open() {
    const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/kiosk/live");
    socket.onopen = () => { delay = 250; socket.send(JSON.stringify({token: token(), page: page})); };
    socket.onmessage = event => {
      const message = JSON.parse(event.data);
      if (message.type === "hello") onState && onState(true, message);
      onMessage(message);
    };
    socket.onclose = event => {
      onState && onState(false);
      if (event.code === 4403) return;  // the token is refused: retrying will not change that
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 3000);
    };
  }
  open();
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("data-")) node.setAttribute(k, v); else node[k] = v;
  }
  for (const child of children) node.append(child === null || child === undefined ? "" : child);
  return node;
}

// Sounds made on the spot: a rising two-tone for success, a low buzz for failure.
let audio = null;
function sound(kind) {
  window.lastSound = kind;  // tests and the benchmark can see which sound was asked for
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const tones = kind === "success" ? [[880, 0, 0.12], [1320, 0.13, 0.18]] : kind === "alert"
      ? [[988, 0, 0.15], [784, 0.18, 0.15], [988, 0.36, 0.2]] : [[220, 0, 0.35]];
    for (const [frequency, start, length] of tones) {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = kind === "failure" ? "square" : "sine";
      osc.frequency.value = frequency;
      gain.gain.value = 0.2;
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + start);
      osc.stop(audio.currentTime + start + length);
    }
  } catch (e) { /* no audio device: the colour says it all */ }
}

function localTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(language() === "en" ? "en-GB" : "zh-CN", {hour: "2-digit", minute: "2-digit"});
}
