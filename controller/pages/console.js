// The technician console: every room at a glance; one room's devices live, its self-test with
// the speak-test prompts, alerts and playbooks waiting for confirmation, reports, log, archive.
"use strict";

(() => {
  const R = Roomctl, t = R.t, el = R.el, pick = R.pick;
  R.addTexts({
    "zh-CN": {
      console: "音控台", ready: "就绪", warnings: "有注意项", not_ready: "未就绪", in_meeting: "会议中", offline_state: "离线",
      devicesOnline: "{n}/{m} 台在线", alerts: "{n} 条告警", devices: "设备", selftest: "会前自检", runSelftest: "开始自检",
      talker: "讲话测试", talkerTechnician: "由我在现场讲话", talkerSimulated: "模拟讲话人", progress: "已完成 {done}/{planned} 项",
      readyBanner: "就绪", notReadyBanner: "未就绪", pastReports: "历史报告", started: "开始", result: "结果",
      counts: "通过 {pass} · 注意 {warn} · 失败 {fail} · 未执行 {not_done}", runPlaybook: "执行预案：{kind}",
      alertsAndPlaybooks: "告警与预案", noAlerts: "没有未解除的告警", runs: "预案执行记录", noRuns: "暂无预案执行",
      done: "已完成", couldNot: "无法完成", skip: "跳过此话筒", speakNow: "请讲话", schedule: "今日日程", noSchedule: "今日无安排",
      log: "事件日志", archive: "设备档案", time: "时间", kind: "类型", device: "设备", actor: "操作者", detail: "详情",
      model: "型号", serial: "序列号", firmware: "固件", lampHours: "灯泡小时", faults: "故障", maintenance: "维护",
      status: "状态", power: "电源", input: "输入", lamp: "灯泡", filter: "滤网", brightness: "亮度", temperature: "室温",
      setpoint: "设定", mode: "模式", health: "健康", errors: "故障", scene: "场景", channel: "通道", tx: "发射器",
      battery: "电池", rf: "射频", level: "电平", fader: "推子", mute: "静音", on: "开", off: "关", minutes: "{n} 分钟",
      waiting: "等待确认", outcome_running: "执行中", outcome_resolved: "已解决", outcome_mitigated: "已缓解",
      outcome_escalated: "已上报", outcome_unresolved: "未解决", outcome_no_fault: "无故障", outcome_aborted: "已中止",
      outcome_failed: "失败", at: "于", selectRoom: "请选择会议室", alreadyRunning: "自检进行中…", reasons: "原因",
      heardWhen: "听到声音后自动进入下一项", main: "主输出", step: "步骤", meeting: "会议", entryStatus: "状态",
      open: "查看", unanswered: "无人响应", never: "—", rerun: "重新自检",
      staffed: "有人值守", staffedTitle: "从会前 20 分钟提醒起，一名工作人员留守会场",
      history: "履历", historyOf: "{name} 的履历", addMaintenance: "添加维护记录", whatWasDone: "维护内容",
      doneBy: "维护人", doneAt: "维护时间（留空为现在）", addEntry: "添加记录", entryAdded: "已添加维护记录",
      noMaintenance: "暂无维护记录", recordedBy: "由 {name} 录入", recentFaults: "近期故障", noFaults: "无故障记录",
      refusedHere: "无权操作（{status}）：{message}", invalidHere: "内容有误：{message}", close: "关闭",
    },
    en: {
      console: "Technician console", ready: "Ready", warnings: "Warnings", not_ready: "Not ready", in_meeting: "In a meeting",
      offline_state: "Offline", devicesOnline: "{n}/{m} online", alerts: "{n} alert(s)", devices: "Devices",
      selftest: "Pre-meeting self-test", runSelftest: "Run self-test", talker: "Speak test",
      talkerTechnician: "I will speak at the mics", talkerSimulated: "Simulated talker", progress: "{done}/{planned} checks done",
      readyBanner: "READY", notReadyBanner: "NOT READY", pastReports: "Past reports", started: "Started", result: "Result",
      counts: "pass {pass} · warn {warn} · fail {fail} · not done {not_done}", runPlaybook: "Run playbook: {kind}",
      alertsAndPlaybooks: "Alerts and playbooks", noAlerts: "No alert standing", runs: "Playbook runs", noRuns: "No playbook run yet",
      done: "Done", couldNot: "Could not", skip: "Skip this mic", speakNow: "Speak now", schedule: "Today", noSchedule: "Nothing scheduled today",
      log: "Event log", archive: "Equipment archive", time: "Time", kind: "Kind", device: "Device", actor: "By", detail: "Detail",
      model: "Model", serial: "Serial", firmware: "Firmware", lampHours: "Lamp h", faults: "Faults", maintenance: "Maintenance",
      status: "Status", power: "Power", input: "Input", lamp: "Lamp", filter: "Filter", brightness: "Brightness",
      temperature: "Room", setpoint: "Set", mode: "Mode", health: "Health", errors: "Errors", scene: "Scene", channel: "Ch",
      tx: "Transmitter", battery: "Battery", rf: "RF", level: "Level", fader: "Fader", mute: "Mute", on: "on", off: "off",
      minutes: "{n} min", waiting: "waiting for confirmation", outcome_running: "running", outcome_resolved: "resolved",
      outcome_mitigated: "mitigated", outcome_escalated: "escalated", outcome_unresolved: "unresolved",
      outcome_no_fault: "no fault", outcome_aborted: "aborted", outcome_failed: "failed", at: "at",
      selectRoom: "Choose a room", alreadyRunning: "Self-test running…", reasons: "Why",
      heardWhen: "Moves on by itself once the mic is heard", main: "Main", step: "Step", meeting: "Meeting",
      entryStatus: "Status", open: "Open", unanswered: "nobody answered", never: "—", rerun: "Run again",
      staffed: "Staffed", staffedTitle: "A staff member stays in the room (from the T-20 reminder on)",
      history: "History", historyOf: "History of {name}", addMaintenance: "Add a maintenance entry",
      whatWasDone: "What was done", doneBy: "Done by", doneAt: "When (empty: now)", addEntry: "Add entry",
      entryAdded: "Maintenance entry added", noMaintenance: "No maintenance recorded yet",
      recordedBy: "recorded by {name}", recentFaults: "Recent faults", noFaults: "No fault recorded",
      refusedHere: "Not allowed ({status}): {message}", invalidHere: "Not recorded: {message}", close: "Close",
    },
  });

  const STORAGE = sessionStorage, KEY = "roomctl-console-token";
  let token = R.takeToken(STORAGE, KEY);
  const api = R.client(() => token);
  let me = null, link = null, glances = [], detail = null;
  let selected = sessionStorage.getItem("roomctl-console-room");
  const devices = {};       // room → device id → device view (kept live from the socket)
  const prompts = {};       // prompt id → prompt (asked, not yet answered)
  const selftests = {};     // room → {id, planned, done, checks, finished, ready, report}
  let log = [];             // the selected room's events, newest first
  const shown = {};         // room → report id shown in the result area
  let archiveOpen = null;   // the device whose history is shown: {room, device, entry, box}
  window.__console = {prompts: []};  // tests read which prompts the page has shown
  const body = document.body;

  // --- frame ------------------------------------------------------------------------------------

  function texts() {
    R.frameTexts();
    document.getElementById("console-title").textContent = t("console");
    document.getElementById("sign-out").textContent = t("signOut");
  }

  document.getElementById("lang").addEventListener("click", () => {
    R.setLanguage(R.language() === "en" ? "zh-CN" : "en");
    texts();
    drawRooms();
    if (archiveOpen) rebuildHistory();
    drawRoom();
  });

  document.getElementById("sign-out").addEventListener("click", async () => {
    try { await api("/api/auth/logout", {method: "POST"}); } catch (e) { /* signed out here either way */ }
    token = "";
    STORAGE.removeItem(KEY);
    if (link) link.stop();
    showLogin();
  });

  document.getElementById("login").addEventListener("submit", async event => {
    event.preventDefault();
    const message = document.getElementById("login-message");
    message.textContent = "";
    try {
      const session = await R.client(() => "")("/api/auth/login", {json: {
        user: document.getElementById("login-user").value, pin: document.getElementById("login-pin").value}});
      token = session.token;
      STORAGE.setItem(KEY, token);
      document.getElementById("login-pin").value = "";
      start();
    } catch (error) {
      message.dataset.status = error.status;
      message.textContent = error.message;
    }
  });

  function showLogin() {
    document.getElementById("main").hidden = true;
    document.getElementById("login").hidden = false;
    document.getElementById("sign-out").hidden = true;
    document.getElementById("who").textContent = "";
    body.dataset.loaded = "login";
  }

  function linkState(state, info) {
    const live = state === "live" ? "on" : state === "denied" ? "denied" : state === "offline" ? "off" : "connecting";
    body.dataset.live = live;
    const indicator = document.getElementById("link");
    indicator.dataset.live = live;
    indicator.textContent = t(state === "offline" ? "offline" : state);
    const banner = document.getElementById("offline");
    banner.hidden = !(state === "offline" || (state === "connecting" && info.attempt > 1));
    document.getElementById("offline-title").textContent = t("offline");
    document.getElementById("offline-detail").textContent = state === "offline"
      ? t("retrying", {n: info.attempt, s: Math.max(1, Math.round(info.retryIn / 1000))}) : t("connecting");
    if (state === "live") {
      document.getElementById("site-name").textContent = info.site_name || info.site || "roomctl";
      refreshRooms();
      if (selected) loadRoom(selected);
    }
    if (state === "denied") { token = ""; STORAGE.removeItem(KEY); showLogin(); }
  }

  // --- live messages ----------------------------------------------------------------------------

  const LOGGED = new Set(["command", "error", "audit", "scene", "status", "alert", "playbook", "selftest", "auth",
                          "prompt", "monitoring", "post_meeting", "schedule", "reminder", "maintenance"]);
  // Rooms at a glance change with the clock too (a booking starts): looked at again this often.
  const GLANCE_EVERY = 30000;  // ms

  function onMessage(message) {
    if (message.type === "hello") return;
    if (message.type === "snapshot") {
      for (const room of message.rooms) {
        devices[room.id] = {};
        for (const device of room.devices) devices[room.id][device.id] = device;
      }
      drawDevices();
      return;
    }
    const room = message.room;
    if (message.type === "state" && room && devices[room] && devices[room][message.device]) {
      Object.assign(devices[room][message.device].state, message.data);
      if (room === selected) redrawDevice(room, message.device);
      return;
    }
    if (message.type === "status" && room && devices[room] && devices[room][message.device]) {
      Object.assign(devices[room][message.device], {status: message.data.status, reason: message.data.reason});
      if (room === selected) redrawDevice(room, message.device);
      refreshRooms();
    }
    if (message.type === "selftest") onSelftest(message);
    if (message.type === "prompt") onPrompt(message);
    // the T-20 reminder makes a room attended; the schedule's steps start and end meetings
    if (["reminder", "schedule"].includes(message.type)) refreshRooms();
    if (message.type === "maintenance") {
      onMaintenance(message);
      if (room === selected) loadArchive(room);
    }
    if (["alert", "playbook"].includes(message.type) || (message.type === "scene" && message.data.event === "finished")) {
      refreshRooms();
      if (room === selected) refreshRoom();
    }
    if (room === selected && LOGGED.has(message.type) && !(message.type === "scene" && message.data.event === "step")) {
      log.unshift(message);
      log = log.slice(0, 200);
      drawLog();
    }
  }

  function onSelftest(message) {
    const room = message.room, data = message.data;
    let run = selftests[room];
    if (data.event === "started") {
      run = selftests[room] = {id: data.id, planned: data.planned, done: 0, checks: [], finished: false};
      shown[room] = null;
    }
    if (!run || run.id !== data.id) return;
    if (data.event === "check") {
      run.done += 1;
      run.checks.push({device: message.device, check: data.check, verdict: data.verdict});
    }
    if (data.event === "finished") {
      Object.assign(run, {finished: true, ready: data.ready, counts: data.counts});
      showReport(room, data.id);
      refreshRooms();
      if (room === selected) refreshRoom();
    }
    if (room === selected) drawSelftest();
  }

  function onPrompt(message) {
    const data = message.data;
    if (data.event === "asked") {
      prompts[data.id] = data;
      window.__console.prompts.push({id: data.id, room: data.room, message: data.message, channel: data.channel,
                                      device: data.device, source: data.source});
    } else {
      delete prompts[data.id];
    }
    if (message.room === selected) drawPrompts();
  }

  // --- rooms at a glance ---------------------------------------------------------------------------

  const refreshRooms = R.debounce(async () => {
    try { glances = await api("/api/console/rooms"); } catch (e) { return; }
    drawRooms();
  }, 150);

  function stateWord(state) {
    return t(state === "offline" ? "offline_state" : state);
  }

  function staffedBadge(glance) {
    return el("span", {class: "badge staffed", "data-attended": glance.attended ? "yes" : "no",
                       hidden: !glance.attended, title: t("staffedTitle"), text: t("staffed")});
  }

  function drawRooms() {
    const box = document.getElementById("rooms");
    box.replaceChildren(...glances.map(room => el("button", {
      class: "room-tile", type: "button", "data-room": room.id, "data-state": room.state,
      "aria-current": room.id === selected ? "true" : "false", onclick: () => select(room.id)},
      el("div", {class: "row"}, el("strong", {text: room.name}),
         el("span", {class: "badges"}, staffedBadge(room),
            el("span", {class: "pill", "data-state": room.state, text: stateWord(room.state)}))),
      el("span", {class: "muted", text: t("devicesOnline", {n: room.devices_online, m: room.devices_total}) +
                                        (room.alerts_standing ? " · " + t("alerts", {n: room.alerts_standing}) : "")}),
      el("span", {class: "reasons", text: room.reasons.map(pick).join("; ")}))));
    if (!selected && glances.length) select(glances[0].id);
    const glance = glances.find(g => g.id === selected);
    const pill = document.querySelector("#room .room-head .pill");
    if (glance && pill) {
      pill.dataset.state = glance.state;
      pill.textContent = stateWord(glance.state);
      document.querySelector("#room .room-head .reasons").textContent = glance.reasons.map(pick).join("; ");
      document.querySelector("#room .room-head .staffed").replaceWith(staffedBadge(glance));
    }
  }

  function select(room) {
    if (room === selected && detail && detail.glance.id === room) return;
    selected = room;
    sessionStorage.setItem("roomctl-console-room", room);
    archiveOpen = null;
    log = [];
    detail = null;
    drawRooms();
    loadRoom(room);
  }

  // --- one room -------------------------------------------------------------------------------------

  async function loadRoom(room) {
    let loaded;
    try { loaded = await api(`/api/console/rooms/${encodeURIComponent(room)}`); } catch (e) { return; }
    if (room !== selected) return;
    detail = loaded;
    for (const prompt of loaded.prompts) prompts[prompt.id] = prompt;
    for (const device of loaded.devices) {
      devices[room] = devices[room] || {};
      devices[room][device.id] = device;
    }
    drawRoom();
    body.dataset.loaded = "yes";
    loadLog(room);
    loadSchedule(room);
    loadArchive(room);
    const running = await api(`/api/selftest-runs?room=${encodeURIComponent(room)}`).catch(() => []);
    if (running.length && !(selftests[room] && selftests[room].id === running[0].id)) {
      selftests[room] = {id: running[0].id, planned: 0, done: 0, checks: [], finished: false};
      drawSelftest();
    }
  }

  const refreshRoom = R.debounce(() => selected && loadRoom(selected), 150);

  function panel(id, title, ...children) {
    return el("section", {class: "panel", id}, el("h2", {}, ...(Array.isArray(title) ? title : [title])), ...children);
  }

  function drawRoom() {
    const box = document.getElementById("room");
    if (!detail) { box.replaceChildren(el("p", {class: "muted", text: t("selectRoom")})); return; }
    const g = detail.glance;
    box.dataset.room = g.id;
    const talker = detail.simulated_talker ? el("select", {id: "talker", "aria-label": t("talker")},
      el("option", {value: "technician", text: t("talkerTechnician")}),
      el("option", {value: "simulated", text: t("talkerSimulated")})) : null;
    box.replaceChildren(
      el("div", {class: "panel room-head"},
         el("div", {class: "row"}, el("h2", {text: g.name}),
            el("span", {class: "badges"}, staffedBadge(g),
               el("span", {class: "pill", "data-state": g.state, text: stateWord(g.state)}))),
         el("p", {class: "reasons muted", text: g.reasons.map(pick).join("; ")})),
      panel("selftest", [el("span", {text: t("selftest")}), el("span", {class: "actions"}, talker,
        el("button", {id: "run-selftest", class: "primary", type: "button", text: t("runSelftest"), onclick: runSelftest}))],
        el("div", {id: "selftest-progress"}), el("div", {id: "prompts"}), el("div", {id: "selftest-result"}),
        el("h3", {text: t("pastReports")}), el("table", {id: "reports"})),
      panel("playbooks", t("alertsAndPlaybooks"), el("div", {id: "alerts"}), el("h3", {text: t("runs")}),
            el("div", {id: "runs"})),
      panel("devices-panel", t("devices"), el("div", {class: "devices", id: "devices"})),
      panel("schedule", t("schedule"), el("table", {id: "timeline"})),
      panel("log-panel", t("log"), el("div", {class: "log"}, el("table", {id: "log"}))),
      panel("archive", t("archive"), el("table", {id: "archive-table"}), historyBox()),
    );
    drawSelftest();
    drawPrompts();
    drawReports();
    drawAlerts();
    drawDevices();
    drawLog();
    drawHistory();
  }

  // --- devices ---------------------------------------------------------------------------------------

  function wiringFor(deviceId) {
    return detail ? detail.mics.filter(m => m.receiver === deviceId || m.mixer === deviceId) : [];
  }

  function drawDevices() {
    const box = document.getElementById("devices");
    if (!box || !selected || !devices[selected]) return;
    box.replaceChildren(...Object.values(devices[selected]).map(deviceCard));
  }

  const pending = new Set();
  let frame = null;
  function redrawDevice(room, deviceId) {
    pending.add(deviceId);
    if (frame) return;
    frame = requestAnimationFrame(() => {  // meters move many times a second: draw once per frame
      frame = null;
      for (const id of pending) {
        const old = document.querySelector(`.device[data-device="${CSS.escape(id)}"]`);
        const device = devices[room] && devices[room][id];
        if (old && device && room === selected) old.replaceWith(deviceCard(device));
      }
      pending.clear();
    });
  }

  function fact(label, value) {
    return value === undefined || value === null || value === "" ? null
      : el("span", {}, el("b", {text: label + " "}), String(value));
  }

  function meter(dbfs, clipping) {
    const share = dbfs === undefined || dbfs === null ? 0 : Math.max(0, Math.min(1, (dbfs + 60) / 60));
    return el("span", {class: "meter", "data-clip": clipping ? "yes" : "no", title: dbfs === undefined ? "" : dbfs + " dBFS"},
              el("i", {style: {width: (share * 100).toFixed(0) + "%"}}));
  }

  function bars(battery) {
    const n = battery && typeof battery.bars === "number" ? battery.bars : null;
    const box = el("span", {class: "bars", "data-bars": n === null ? "" : n}, ...[1, 2, 3, 4, 5].map(i =>
      el("i", {class: n !== null && i <= n ? "lit" : ""})));
    return box;
  }

  function deviceCard(device) {
    const s = device.state || {};
    const facts = [];
    if (s.power !== undefined) facts.push(fact(t("power"), s.power));
    if (s.input !== undefined) facts.push(fact(t("input"), s.input));
    if (Array.isArray(s.lamps)) facts.push(fact(t("lamp"), s.lamps.map(l => l.hours + " h").join(", ")));
    if (s.filter_hours !== undefined) facts.push(fact(t("filter"), s.filter_hours + " h"));
    if (s.errors) {
      const bad = Object.entries(s.errors).filter(([, level]) => level !== "ok").map(([k, level]) => `${k} ${level}`);
      if (bad.length) facts.push(fact(t("errors"), bad.join(", ")));
    }
    if (s.brightness !== undefined) facts.push(fact(t("brightness"), s.power === "off" ? "0 % (off)" : s.brightness + " %"));
    if (s.temperature !== undefined) facts.push(fact(t("temperature"), s.temperature + " °C"));
    if (s.setpoint !== undefined) facts.push(fact(t("setpoint"), s.setpoint + " °C"));
    if (s.hvac_mode !== undefined) facts.push(fact(t("mode"), s.hvac_mode + (s.hvac_action ? ` (${s.hvac_action})` : "")));
    if (s.health) facts.push(fact(t("health"), (s.health.ok ? "ok" : "down") +
                                   (s.health.latency_ms !== undefined && s.health.latency_ms !== null ? ` ${s.health.latency_ms} ms` : "")));
    if (s.scene !== undefined && s.faders) facts.push(fact(t("scene"), s.scene));
    const parts = [
      el("header", {}, el("strong", {text: device.name}),
         el("span", {class: "status", "data-status": device.status, text: device.status})),
      el("span", {class: "muted", text: `${device.driver}${device.address ? " · " + device.address : ""}` +
                                        (device.reason ? " — " + device.reason : "")}),
      el("div", {class: "facts"}, ...facts),
    ];
    if (s.transmitters || s.batteries) parts.push(el("div", {class: "table-wrap"}, wirelessTable(device, s)));
    if (s.faders) parts.push(el("div", {class: "table-wrap"}, mixerTable(device, s)));
    return el("article", {class: "device", "data-device": device.id, "data-status": device.status}, ...parts);
  }

  function wirelessTable(device, s) {
    const wiring = wiringFor(device.id);
    const channels = Object.keys(s.transmitters || s.batteries || {});
    return el("table", {class: "channels"},
      el("tr", {}, ...[t("channel"), t("tx"), t("battery"), t("rf"), t("level")].map(h => el("th", {text: h}))),
      ...channels.map(ch => {
        const mic = wiring.find(m => m.receiver === device.id && String(m.channel) === ch);
        const tx = (s.transmitters || {})[ch], battery = (s.batteries || {})[ch], rf = (s.rf || {})[ch];
        const minutes = battery ? (typeof battery.minutes_left === "number" ? t("minutes", {n: battery.minutes_left})
                                                                           : battery.minutes_left) : "";
        return el("tr", {"data-channel": ch},
          el("td", {text: `${ch} ${mic ? mic.name : ((s.channels || {})[ch] || {}).name || ""}`}),
          el("td", {text: tx ? (tx.present ? t("on") : t("off")) : ""}),
          el("td", {"data-minutes": battery ? battery.minutes_left : ""}, bars(battery), " ", minutes),
          el("td", {text: rf ? `${rf.level_dbm === null ? "—" : rf.level_dbm + " dBm"} ${rf.antenna}` +
                              (rf.interference ? " !" : "") : ""}),
          el("td", {}, meter((s.levels || {})[ch], (s.clipping || {})[ch])));
      }));
  }

  function mixerTable(device, s) {
    const wiring = wiringFor(device.id);
    const channels = Object.keys(s.faders);
    return el("table", {class: "channels"},
      el("tr", {}, ...[t("channel"), t("fader"), t("mute"), t("level")].map(h => el("th", {text: h}))),
      ...channels.map(ch => {
        const mic = wiring.find(m => m.mixer === device.id && String(m.input) === ch);
        const name = ch === "main" ? t("main") : `${ch} ${mic ? mic.name : (s.channel_names || {})[ch] || ""}`;
        const fader = s.faders[ch];
        return el("tr", {"data-channel": ch},
          el("td", {text: name}),
          el("td", {text: typeof fader === "number" ? fader.toFixed(1) + " dB" : fader}),
          el("td", {class: "muted-flag", text: (s.mutes || {})[ch] ? t("mute") : ""}),
          el("td", {}, ch === "main" ? "" : meter((s.levels || {})[ch], (s.clipping || {})[ch])));
      }));
  }

  // --- self-test -------------------------------------------------------------------------------------

  async function runSelftest() {
    const button = document.getElementById("run-selftest");
    button.disabled = true;
    const talker = document.getElementById("talker");
    try {
      const started = await api(`/api/rooms/${encodeURIComponent(selected)}/selftest/runs`,
                                {json: {talker: talker ? talker.value : "technician"}});
      const run = selftests[selected];
      if (!run || run.id !== started.id) {
        selftests[selected] = {id: started.id, planned: started.planned, done: 0, checks: [], finished: false};
      } else {
        run.planned = started.planned;
      }
      shown[selected] = null;
      drawSelftest();
    } catch (error) {
      document.getElementById("selftest-progress").replaceChildren(el("p", {class: "message", text: error.message}));
      button.disabled = false;
    }
  }

  function drawSelftest() {
    const box = document.getElementById("selftest-progress");
    if (!box) return;
    const run = selftests[selected];
    const button = document.getElementById("run-selftest");
    if (!run) { box.replaceChildren(); button.disabled = false; return; }
    button.disabled = !run.finished;
    button.textContent = run.finished ? t("rerun") : t("alreadyRunning");
    box.dataset.state = run.finished ? "finished" : "running";
    box.dataset.done = run.done;
    const share = run.planned ? Math.min(1, run.done / run.planned) : 0;
    box.replaceChildren(
      el("div", {class: "row"}, el("span", {text: t("progress", {done: run.done, planned: run.planned || "?"})}),
         run.finished ? el("span", {class: "verdict-banner", "data-ready": String(run.ready),
                                     text: run.ready ? t("readyBanner") : t("notReadyBanner")}) : null),
      el("div", {class: "bigbar"}, el("i", {style: {width: (run.finished ? 100 : share * 100).toFixed(0) + "%"}})),
      el("div", {class: "facts"}, ...run.checks.slice(-12).map(c => el("span", {},
        el("b", {text: `${nameOf(c.device)} · ${c.check} `}),
        el("span", {class: "verdict", "data-verdict": c.verdict, text: c.verdict})))));
  }

  function nameOf(deviceId) {
    const device = selected && devices[selected] && devices[selected][deviceId];
    return device ? device.name : deviceId || "";
  }

  function drawPrompts() {
    const box = document.getElementById("prompts");
    if (!box) return;
    const mine = Object.values(prompts).filter(p => p.room === selected);
    box.replaceChildren(...mine.map(prompt => {
      const speak = prompt.prompt_kind === "speak";
      const answer = confirmed => async event => {
        event.currentTarget.disabled = true;
        try { await api(`/api/prompts/${encodeURIComponent(prompt.id)}`, {json: {confirmed}}); }
        catch (error) { box.append(el("p", {class: "message", text: error.message})); }
      };
      return el("div", {class: "prompt", role: "alert", "data-prompt": prompt.id, "data-source": prompt.source || "",
                        "data-channel": prompt.channel === undefined || prompt.channel === null ? "" : prompt.channel},
        el("strong", {text: pick(prompt.message)}),
        speak ? el("span", {class: "muted", text: t("heardWhen")}) : null,
        el("div", {class: "actions"}, speak
          ? el("button", {type: "button", class: "answer-decline", text: t("skip"), onclick: answer(false)})
          : el("button", {type: "button", class: "primary answer-confirm", text: t("done"), onclick: answer(true)}),
          speak ? null : el("button", {type: "button", class: "danger answer-decline", text: t("couldNot"),
                                        onclick: answer(false)})));
    }));
  }

  async function showReport(room, id) {
    const reports = await api(`/api/rooms/${encodeURIComponent(room)}/selftests?limit=10`).catch(() => []);
    const report = reports.find(r => r.id === id);
    if (!report) return;
    shown[room] = report;
    if (room === selected) drawResult();
  }

  function drawResult() {
    const box = document.getElementById("selftest-result");
    const report = shown[selected];
    if (!box) return;
    if (!report) { box.replaceChildren(); return; }
    const counts = {pass: 0, warn: 0, fail: 0, not_done: 0};
    for (const r of report.results) counts[r.verdict] += 1;
    const failures = report.results.filter(r => r.verdict === "fail" || r.verdict === "warn");
    box.dataset.report = report.id;
    box.dataset.ready = String(report.ready);
    box.replaceChildren(
      el("div", {class: "row"}, el("span", {class: "verdict-banner", "data-ready": String(report.ready),
                                            text: report.ready ? t("readyBanner") : t("notReadyBanner")}),
         el("span", {class: "muted", text: `${R.dateTime(report.started_at)} · ${t("counts", counts)}`})),
      ...failures.map(r => el("div", {class: "failure", "data-verdict": r.verdict, "data-check": r.check,
                                      "data-device": r.device, "data-playbook": r.playbook || ""},
        el("strong", {}, el("span", {class: "verdict", "data-verdict": r.verdict, text: r.verdict + " "}),
           `${r.device_name}${r.subject ? " · " + r.subject : ""} — ${pick(r.title)}`),
        r.measured ? el("span", {class: "muted", text: r.measured}) : null,
        r.problem ? el("span", {text: pick(r.problem)}) : null,
        r.advice ? el("span", {text: "→ " + pick(r.advice)}) : null,
        r.playbook ? el("div", {class: "actions"}, el("button", {
          type: "button", class: "run-playbook", "data-playbook": r.playbook, text: t("runPlaybook", {kind: r.playbook}),
          onclick: event => runPlaybook(r.playbook, r.device, null, event.currentTarget)})) : null)));
  }

  function drawReports() {
    const table = document.getElementById("reports");
    if (!table || !detail) return;
    table.replaceChildren(el("tr", {}, ...[t("started"), t("result"), ""].map(h => el("th", {text: h}))),
      ...detail.selftests.map(s => el("tr", {"data-report": s.id},
        el("td", {text: R.dateTime(s.started_at)}),
        el("td", {}, el("span", {class: "verdict", "data-verdict": s.ready ? "pass" : "fail",
                                 text: s.ready ? t("ready") : t("not_ready")}),
           " ", el("span", {class: "muted", text: t("counts", Object.assign({pass: 0, warn: 0, fail: 0, not_done: 0},
                                                                           s.counts))})),
        el("td", {}, el("button", {type: "button", class: "plain", text: t("open"),
                                   onclick: () => showReport(selected, s.id)})))));
    drawResult();
  }

  // --- alerts and playbooks ----------------------------------------------------------------------------

  async function runPlaybook(kind, device, channel, button) {
    if (button) button.disabled = true;
    const bodyJson = {};
    if (device) bodyJson.device = device;
    if (channel) bodyJson.channel = channel;
    try {
      await api(`/api/rooms/${encodeURIComponent(selected)}/playbooks/${encodeURIComponent(kind)}`, {json: bodyJson});
      refreshRoom();
    } catch (error) {
      if (button) { button.disabled = false; button.after(el("span", {class: "message", text: " " + error.message})); }
    }
  }

  function drawAlerts() {
    const alerts = document.getElementById("alerts"), runs = document.getElementById("runs");
    if (!alerts || !detail) return;
    const cleared = new Set(detail.alerts.filter(a => a.state === "cleared").map(a => (a.data || {}).clears));
    const standing = detail.alerts.filter(a => a.state === "raised" && !cleared.has(a.id));
    alerts.replaceChildren(...(standing.length ? standing.map(a => el("div", {
      class: "alert", "data-alert": a.id, "data-kind": a.kind, "data-severity": a.severity, "data-state": a.state},
      el("strong", {text: pick(a.message)}),
      el("span", {class: "muted", text: `${R.time(a.at)} · ${a.kind} · ${a.source}`}),
      a.playbook && a.source !== "playbook" ? el("div", {class: "actions"}, el("button", {
        type: "button", class: "run-playbook", "data-playbook": a.playbook, text: t("runPlaybook", {kind: a.playbook}),
        onclick: event => runPlaybook(a.playbook, a.device, a.channel, event.currentTarget)})) : null))
      : [el("p", {class: "muted", text: t("noAlerts")})]));
    runs.replaceChildren(...(detail.playbook_runs.length ? detail.playbook_runs.map(run => el("div", {
      class: "run", "data-run": run.id, "data-kind": run.kind, "data-outcome": run.outcome},
      el("div", {class: "row"}, el("strong", {text: `${pick(run.title)} — ${run.subject}`}),
         el("span", {class: "outcome", text: t("outcome_" + run.outcome)})),
      el("span", {class: "muted", text: `${R.time(run.started_at)} · ${run.actor}`}),
      el("ol", {}, ...run.steps.map(step => {
        const waiting = step.outcome === "waiting" && step.prompt_id && prompts[step.prompt_id];
        return el("li", {"data-step": step.index, "data-name": step.name, "data-outcome": step.outcome},
          `${pick(step.what)} — `, el("span", {class: "outcome", text: step.outcome === "waiting" ? t("waiting") : step.outcome}),
          step.detail ? el("span", {class: "muted", text: " " + step.detail}) : null,
          waiting ? el("div", {class: "actions"},
            el("button", {type: "button", class: "primary confirm-step", text: t("done"),
                          onclick: event => confirmStep(run.id, true, event.currentTarget)}),
            el("button", {type: "button", class: "danger decline-step", text: t("couldNot"),
                          onclick: event => confirmStep(run.id, false, event.currentTarget)})) : null);
      })))) : [el("p", {class: "muted", text: t("noRuns")})]));
  }

  async function confirmStep(runId, done, button) {
    button.disabled = true;
    try {
      await api(`/api/playbook-runs/${encodeURIComponent(runId)}/confirm`, {json: {done}});
    } catch (error) {
      button.after(el("span", {class: "message", text: " " + error.message}));
    }
    refreshRoom();
  }

  // --- log, schedule, archive ---------------------------------------------------------------------------

  async function loadLog(room) {
    const events = await api(`/api/events?room=${encodeURIComponent(room)}&limit=100`).catch(() => []);
    if (room !== selected) return;
    const known = new Set(log.map(e => e.seq));
    log = log.concat(events.filter(e => e.kind !== "state" && !known.has(e.seq)).map(e => Object.assign({type: e.kind}, e)))
             .sort((a, b) => b.seq - a.seq).slice(0, 200);
    drawLog();
  }

  function summary(event) {
    const d = event.data || {};
    if (event.type === "command") return Object.entries(d).map(([k, v]) => `${k}=${v}`).join(" ");
    if (event.type === "audit") return `${d.method} ${d.path} → ${d.status}`;
    if (event.type === "status") return d.status + (d.reason ? ` (${d.reason})` : "");
    if (event.type === "error") return `${d.error}: ${d.detail}`;
    if (event.type === "alert") return pick(d.message);
    if (event.type === "prompt") return d.message ? pick(d.message) : d.event;
    if (event.type === "reminder") return pick(d.message);
    if (event.type === "maintenance") return `${d.by}: ${d.note}`;
    return [d.event, d.scene, d.kind, d.outcome, d.verdict, d.check].filter(x => x !== undefined && x !== null).join(" ");
  }

  function drawLog() {
    const table = document.getElementById("log");
    if (!table) return;
    table.replaceChildren(el("tr", {}, ...[t("time"), t("kind"), t("device"), t("actor"), t("detail")].map(h =>
      el("th", {text: h}))), ...log.slice(0, 100).map(e => el("tr", {"data-kind": e.type},
      el("td", {text: R.time(e.at)}), el("td", {text: e.type}), el("td", {text: e.device || ""}),
      el("td", {text: e.actor || ""}), el("td", {text: summary(e)}))));
  }

  async function loadSchedule(room) {
    const table = document.getElementById("timeline");
    const day = await api(`/api/schedule?room=${encodeURIComponent(room)}`).catch(() => null);
    if (!table || room !== selected) return;
    const entries = day ? day.entries : [];
    table.replaceChildren(...(entries.length ? [el("tr", {}, ...[t("time"), t("meeting"), t("step"), t("entryStatus")]
      .map(h => el("th", {text: h}))), ...entries.map(e => el("tr", {"data-status": e.status || ""},
        el("td", {text: R.time(e.at)}), el("td", {text: e.title}), el("td", {text: e.step}),
        el("td", {text: e.status || ""})))] : [el("tr", {}, el("td", {class: "muted", text: t("noSchedule")}))]));
  }

  async function loadArchive(room) {
    const table = document.getElementById("archive-table");
    const entries = await api("/api/archive").catch(() => []);
    if (!table || room !== selected) return;
    table.replaceChildren(el("tr", {}, ...[t("device"), t("model"), t("serial"), t("firmware"), t("lampHours"),
                                           t("faults"), t("maintenance"), t("status"), ""].map(h => el("th", {text: h}))),
      ...entries.filter(e => e.room === room).map(e => el("tr", {"data-device": e.device},
        el("td", {text: e.name}), el("td", {text: [e.manufacturer, e.model].filter(Boolean).join(" ")}),
        el("td", {text: e.serial_number || ""}), el("td", {text: e.firmware || ""}),
        el("td", {text: (e.lamp_hours || []).join(", ")}), el("td", {text: e.fault_count}),
        el("td", {class: "maintenance-count", text: e.maintenance_count}), el("td", {text: e.status || ""}),
        el("td", {}, el("button", {type: "button", class: "plain open-history", text: t("history"),
                                   onclick: () => openHistory(room, e.device)})))));
  }

  // --- one device's history, and a maintenance entry added to it ------------------------------------------
  // The box is kept across redraws of the room (a live event redraws it): what the technician
  // is typing stays.

  function historyBox() {
    if (archiveOpen && archiveOpen.room === selected) return archiveOpen.box;
    return el("div", {id: "archive-history", hidden: true});
  }

  async function openHistory(room, device) {
    let entry;
    try {
      entry = await api(`/api/archive/${encodeURIComponent(room)}/${encodeURIComponent(device)}`);
    } catch (error) {
      const box = document.getElementById("archive-history");
      box.hidden = false;
      box.replaceChildren(el("p", {class: "message", "data-status": String(error.status), text: refusal(error)}));
      return;
    }
    if (room !== selected) return;
    const old = document.getElementById("archive-history");
    const box = el("div", {id: "archive-history", class: "history", "data-device": device});
    archiveOpen = {room, device, entry, box};
    fillHistory(archiveOpen.box, room, device, entry);
    old.replaceWith(archiveOpen.box);
    drawHistory();
    document.getElementById("maintenance-note").focus();
  }

  function fillHistory(box, room, device, entry) {
    box.replaceChildren(
      el("div", {class: "row"}, el("h3", {text: t("historyOf", {name: entry.name})}),
         el("button", {type: "button", class: "plain close-history", text: t("close"), onclick: closeHistory})),
      maintenanceForm(room, device),
      el("ol", {class: "maintenance-list", id: "maintenance-list"}),
      el("h3", {text: t("recentFaults")}),
      el("ul", {class: "fault-list", id: "fault-list"}));
  }

  // In the other language, with what was typed kept.
  function rebuildHistory() {
    const fields = ["#maintenance-note", "#maintenance-by", "#maintenance-at"];
    const typed = fields.map(field => archiveOpen.box.querySelector(field).value);
    const box = el("div", {id: "archive-history", class: "history", "data-device": archiveOpen.device});
    fillHistory(box, archiveOpen.room, archiveOpen.device, archiveOpen.entry);
    archiveOpen.box = box;
    fields.forEach((field, i) => { box.querySelector(field).value = typed[i]; });
  }

  function closeHistory() {
    archiveOpen = null;
    document.getElementById("archive-history").replaceWith(historyBox());
  }

  function maintenanceForm(room, device) {
    const note = el("textarea", {id: "maintenance-note", required: true, maxLength: 2000, rows: 2});
    const by = el("input", {id: "maintenance-by", required: true, maxLength: 100, value: me ? me.name : ""});
    const at = el("input", {id: "maintenance-at", type: "datetime-local"});
    const message = el("p", {id: "maintenance-message", class: "message", role: "status"});
    const submit = el("button", {id: "maintenance-submit", type: "submit", class: "primary", text: t("addEntry")});
    const form = el("form", {id: "maintenance-form", class: "maintenance-form"},
      el("h3", {text: t("addMaintenance")}),
      el("label", {}, el("span", {text: t("whatWasDone")}), note),
      el("div", {class: "row"}, el("label", {}, el("span", {text: t("doneBy")}), by),
         el("label", {}, el("span", {text: t("doneAt")}), at)),
      el("div", {class: "row"}, submit, message));
    form.addEventListener("submit", async event => {
      event.preventDefault();
      submit.disabled = true;
      message.textContent = "";
      message.dataset.status = "sending";
      const entry = {by: by.value, note: note.value};
      if (at.value) entry.at = at.value;  // no offset: the site's time
      try {
        const record = await api(`/api/archive/${encodeURIComponent(room)}/${encodeURIComponent(device)}/maintenance`,
                                 {json: entry});
        addRecord(room, device, record);
        note.value = "";
        at.value = "";
        message.dataset.status = "added";
        message.textContent = t("entryAdded");
      } catch (error) {
        message.dataset.status = String(error.status);
        message.textContent = refusal(error);
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  // What the API said, for a person: its message, or the fields it found wrong.
  function refusal(error) {
    const detail = Array.isArray(error.body.detail)
      ? error.body.detail.map(d => `${(d.loc || []).slice(-1)[0] || ""}: ${d.msg}`).join("; ") : error.message;
    if (error.status === 401 || error.status === 403) return t("refusedHere", {status: error.status, message: detail});
    if (error.status === 422) return t("invalidHere", {message: detail});
    return detail;
  }

  function addRecord(room, device, record) {
    if (!archiveOpen || archiveOpen.room !== room || archiveOpen.device !== device) return;
    const known = archiveOpen.entry.maintenance || (archiveOpen.entry.maintenance = []);
    if (known.some(r => r.id === record.id)) return;
    known.unshift(record);
    // the latest first; times compared as times (the API writes UTC as "Z", the live event as "+00:00")
    known.sort((a, b) => (Date.parse(b.at) - Date.parse(a.at)) || (b.id - a.id));
    archiveOpen.entry.maintenance_count = (archiveOpen.entry.maintenance_count || 0) + 1;
    const count = document.querySelector(`#archive-table tr[data-device="${CSS.escape(device)}"] .maintenance-count`);
    if (count) count.textContent = archiveOpen.entry.maintenance_count;
    drawHistory();
  }

  // Another console (or the CLI) recorded one: it shows here too.
  function onMaintenance(message) {
    const d = message.data || {};
    addRecord(message.room, message.device, {id: d.id, room: message.room, device: message.device, at: d.at,
                                             by: d.by, note: d.note, recorded_by: message.actor});
  }

  function drawHistory() {
    const list = document.getElementById("maintenance-list");
    if (!archiveOpen || !list) return;
    const records = archiveOpen.entry.maintenance || [];
    list.replaceChildren(...(records.length ? records.map(r => el("li", {class: "maintenance", "data-id": r.id},
      el("strong", {text: r.note}), " ",
      el("span", {class: "muted", text: `${R.dateTime(r.at)} · ${r.by}` + (r.recorded_by && r.recorded_by !== r.by
        ? ` · ${t("recordedBy", {name: r.recorded_by})}` : "")})))
      : [el("li", {class: "muted", text: t("noMaintenance")})]));
    const faults = archiveOpen.entry.faults || [];
    document.getElementById("fault-list").replaceChildren(...(faults.length ? faults.slice(0, 10).map(f => el("li", {},
      el("span", {class: "muted", text: R.dateTime(f.at) + " · "}), `${f.kind}${f.detail ? " — " + f.detail : ""}`))
      : [el("li", {class: "muted", text: t("noFaults")})]));
  }

  // --- start -------------------------------------------------------------------------------------------

  async function start() {
    if (link) link.stop();
    if (!token) { showLogin(); return; }
    try {
      me = await api("/api/auth/me");
    } catch (error) {
      if (error.status === 401 || error.status === 403) { token = ""; STORAGE.removeItem(KEY); showLogin(); return; }
      // unreachable: keep the token and let the socket retry
    }
    document.getElementById("login").hidden = true;
    document.getElementById("main").hidden = false;
    if (me) {
      document.getElementById("who").textContent = `${me.name} (${me.role})`;
      document.getElementById("sign-out").hidden = me.via !== "session";
    }
    link = R.connect({getToken: () => token, onMessage, onState: linkState});
  }

  setInterval(() => { if (body.dataset.live === "on") refreshRooms(); }, GLANCE_EVERY);

  texts();
  start();
})();
