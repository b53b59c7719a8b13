// A room's tablet: scenes as big buttons, the host's controls, the room at a glance.
"use strict";

(() => {
  const R = Roomctl, t = R.t, el = R.el;
  R.addTexts({
    "zh-CN": {
      scenes: "场景", volume: "主音量", muteAll: "全部静音", unmuteAll: "取消静音", mics: "话筒", micLive: "开启",
      muted: "已静音", off: "未开机", input: "信号源", lights: "灯光", climate: "空调", room: "室温",
      setpoint: "设定温度", glance: "设备状态", status_ok: "设备正常", status_starting: "启动中",
      status_attention: "需要注意", running: "执行中…", done: "完成", failed: "未完成", cancelled: "已被取消",
      stepFailed: "{what} 失败：{detail}", sceneDone: "“{name}”已完成（{ms} 毫秒）", sceneFailed: "“{name}”未完成",
      lastScene: "上次场景：{scene}，{at}", noRoom: "没有这个会议室：{room}",
      refused: "此平板无权控制“{room}”。", refusedDetail: "请使用本会议室的平板，或联系音控师。",
      projector: "投影", power_on: "已开启", power_off: "已关闭", power_warming_up: "预热中",
      power_cooling_down: "冷却中", power_unknown: "未知", notSent: "未执行：{message}", online: "在线",
      offline_status: "离线", starting_status: "连接中", fault: "故障", bad_config: "配置错误", band: "范围 {low}–{high} °C",
    },
    en: {
      scenes: "Scenes", volume: "Volume", muteAll: "Mute all", unmuteAll: "Unmute", mics: "Microphones",
      micLive: "Live", muted: "Muted", off: "Off", input: "Source", lights: "Lights", climate: "Climate",
      room: "Room", setpoint: "Set to", glance: "Devices", status_ok: "All devices online",
      status_starting: "Starting", status_attention: "Needs attention", running: "Running…", done: "Done",
      failed: "Not done", cancelled: "Cancelled", stepFailed: "{what} failed: {detail}",
      sceneDone: "“{name}” done ({ms} ms)", sceneFailed: "“{name}” did not complete",
      lastScene: "Last scene: {scene} at {at}", noRoom: "There is no room {room}",
      refused: "This tablet may not control “{room}”.", refusedDetail: "Use this room's own tablet, or ask the AV technician.",
      projector: "Projector", power_on: "on", power_off: "off", power_warming_up: "warming up",
      power_cooling_down: "cooling down", power_unknown: "unknown", notSent: "Not done: {message}", online: "online",
      offline_status: "offline", starting_status: "connecting", fault: "fault", bad_config: "config error",
      band: "range {low}–{high} °C",
    },
  });

  const room = decodeURIComponent(location.pathname.split("/")[2] || "");
  let token = R.takeToken(localStorage, "roomctl-tablet-token");
  const api = R.client(() => token);
  const NOISY = new Set(["levels", "clipping", "rf", "identity"]);  // meters: nothing on the tablet shows them
  let view = null, link = null, structure = "";
  const scenes = {};  // id → {state, done, total, mine}
  const body = document.body;
  window.__tablet = {taps: []};  // the benchmark reads when a tap happened

  // --- static texts ---------------------------------------------------------------------------

  function texts() {
    R.frameTexts();
    document.getElementById("glance-title").textContent = t("glance");
  }

  document.getElementById("lang").addEventListener("click", () => {
    R.setLanguage(R.language() === "en" ? "zh-CN" : "en");
    texts();
    structure = "";
    if (view) render();
  });

  // --- the link ------------------------------------------------------------------------------

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
    if (state === "live") load();
    if (state === "denied") showLogin();
  }

  function onMessage(message) {
    if (message.type === "snapshot") return;
    if (message.room !== room) return;
    if (message.type === "scene") return onScene(message);
    if (message.type === "state" && Object.keys(message.data).every(key => NOISY.has(key))) return;
    reload();
  }

  const reload = R.debounce(() => load(), 100);

  // --- loading -------------------------------------------------------------------------------

  async function load() {
    try {
      view = await api(`/api/rooms/${encodeURIComponent(room)}/tablet`);
    } catch (error) {
      if (error.status === 401) return showLogin();
      if (error.status === 403) return showRefused(t("refused", {room}), t("refusedDetail"));
      if (error.status === 404) return showRefused(t("noRoom", {room}), "");
      return;  // unreachable: the banner says so, and the socket reconnects
    }
    document.getElementById("refused").hidden = true;
    document.getElementById("login").hidden = true;
    document.getElementById("main").hidden = false;
    render();
    body.dataset.loaded = "yes";
  }

  function showRefused(title, detail) {
    body.dataset.refused = "yes";
    document.getElementById("main").hidden = true;
    const box = document.getElementById("refused");
    box.replaceChildren(el("strong", {text: title}), el("p", {text: detail}));
    box.hidden = false;
    if (link) link.stop();
  }

  function showLogin() {
    document.getElementById("main").hidden = true;
    document.getElementById("login").hidden = false;
  }

  document.getElementById("login").addEventListener("submit", async event => {
    event.preventDefault();
    const message = document.getElementById("login-message");
    message.textContent = "";
    delete message.dataset.status;
    try {
      const session = await R.client(() => "")("/api/auth/login", {json: {
        user: document.getElementById("login-user").value, pin: document.getElementById("login-pin").value}});
      token = session.token;
      localStorage.setItem("roomctl-tablet-token", token);
      document.getElementById("login-pin").value = "";
      document.getElementById("login").hidden = true;
      start();
    } catch (error) {
      message.dataset.status = error.status;
      message.textContent = error.message;
    }
  });

  // --- drawing -------------------------------------------------------------------------------

  function render() {
    document.getElementById("room-name").textContent = view.name;
    document.title = view.name;
    const pill = document.getElementById("room-status");
    pill.dataset.status = view.status;
    pill.textContent = t("status_" + view.status);
    const shape = JSON.stringify([R.language(), view.scenes.map(s => s.id), !!view.volume, view.mics.map(m => m.name),
                                  view.inputs && view.inputs.options, view.lights.map(l => l.device), !!view.climate]);
    if (shape !== structure) {
      structure = shape;
      buildScenes();
      buildControls();
    }
    updateScenes();
    updateControls();
    drawGlance();
  }

  function buildScenes() {
    const box = document.getElementById("scenes");
    box.replaceChildren(...view.scenes.map(scene => el("button", {
      class: "scene", type: "button", "data-scene": scene.id, "data-state": "idle", onclick: () => tap(scene)},
      el("span", {class: "scene-name", text: scene.name}),
      el("span", {class: "scene-state"}),
      el("span", {class: "progress"}, el("span", {class: "progress-bar"})))));
  }

  function updateScenes() {
    for (const scene of view.scenes) {
      const button = document.querySelector(`.scene[data-scene="${CSS.escape(scene.id)}"]`);
      const run = scenes[scene.id];
      const state = run ? run.state : "idle";
      button.dataset.state = state;
      button.setAttribute("aria-busy", state === "running" ? "true" : "false");
      button.querySelector(".scene-state").textContent = state === "idle" ? "" : t(state === "ok" ? "done" : state);
      const share = run && run.total ? Math.min(1, run.done / run.total) : 0;
      button.querySelector(".progress-bar").style.width = (state === "running" ? Math.max(0.05, share) : 0) * 100 + "%";
    }
  }

  async function tap(scene) {
    window.__tablet.taps.push({scene: scene.id, at: performance.timeOrigin + performance.now()});
    scenes[scene.id] = {state: "running", done: 0, total: scene.steps, mine: true};
    for (const [id, run] of Object.entries(scenes)) if (id !== scene.id && run.state === "running") run.state = "cancelled";
    updateScenes();
    const result = document.getElementById("scene-result");
    result.textContent = "";
    try {
      const answer = await api(`/api/rooms/${encodeURIComponent(room)}/scenes/${encodeURIComponent(scene.id)}`,
                               {method: "POST"});
      const run = scenes[scene.id];
      run.mine = false;
      run.state = answer.cancelled ? "cancelled" : answer.ok ? "ok" : "failed";
      run.done = run.total;
      result.dataset.result = run.state;
      if (answer.cancelled) result.textContent = t("cancelled");
      else if (answer.ok) result.textContent = t("sceneDone", {name: scene.name, ms: Math.round(answer.duration_ms)});
      else {
        const failed = answer.steps.filter(s => !s.ok).map(s => t("stepFailed", {what: s.what, detail: s.detail || s.error}));
        result.textContent = t("sceneFailed", {name: scene.name}) + " — " + failed.join("; ");
      }
    } catch (error) {
      scenes[scene.id] = {state: "failed", done: 0, total: scene.steps};
      result.dataset.result = "failed";
      result.textContent = t("notSent", {message: error.message});
      if (error.status === 403) showRefused(t("refused", {room}), error.message);
    }
    updateScenes();
    reload();
  }

  function onScene(message) {
    const id = message.data.scene;
    const run = scenes[id] || (scenes[id] = {state: "idle", done: 0, total: stepsOf(id)});
    if (message.data.event === "started" && !run.mine) Object.assign(run, {state: "running", done: 0});
    if (message.data.event === "step") run.done += 1;
    if (message.data.event === "finished" && !run.mine) {
      run.state = message.data.cancelled ? "cancelled" : message.data.ok ? "ok" : "failed";
      reload();
    }
    if (view) updateScenes();
  }

  function stepsOf(id) {
    const scene = view && view.scenes.find(s => s.id === id);
    return scene ? scene.steps : 1;
  }

  // --- controls ------------------------------------------------------------------------------

  async function send(control, element) {
    if (element) element.dataset.busy = "yes";
    const message = document.getElementById("scene-result");
    try {
      await api(`/api/rooms/${encodeURIComponent(room)}/tablet/controls`, {json: control});
    } catch (error) {
      message.dataset.result = "failed";
      message.textContent = t("notSent", {message: error.message});
    } finally {
      if (element) delete element.dataset.busy;
      reload();
    }
  }

  function slider(attributes, onCommit, format) {
    const input = el("input", Object.assign({type: "range"}, attributes));
    const output = el("output", {class: "value"});
    input.addEventListener("input", () => { output.textContent = format(Number(input.value)); });
    input.addEventListener("pointerdown", () => { input.dataset.dragging = "yes"; });
    input.addEventListener("change", () => { delete input.dataset.dragging; onCommit(Number(input.value), input); });
    return {input, output};
  }

  function card(id, title, ...children) {
    return el("div", {class: "card", id}, el("h2", {text: title}), ...children);
  }

  function buildControls() {
    const controls = [];
    if (view.volume) {
      const v = view.volume;
      const {input, output} = slider({id: "volume-range", min: v.min_db, max: v.max_db, step: v.step_db,
                                      "aria-label": t("volume")}, db => send({control: "volume", db}, input),
                                     db => db.toFixed(0) + " dB");
      const nudge = sign => () => {
        const db = Math.min(v.max_db, Math.max(v.min_db, Number(input.value) + sign * v.step_db));
        input.value = db; output.textContent = db.toFixed(0) + " dB";
        send({control: "volume", db}, input);
      };
      controls.push(card("volume", t("volume"),
        el("div", {class: "slider-row"},
           el("button", {class: "round", type: "button", "aria-label": "-", text: "−", onclick: nudge(-1)}), input,
           el("button", {class: "round", type: "button", "aria-label": "+", text: "+", onclick: nudge(1)})),
        el("div", {class: "row"}, output, el("button", {id: "master-mute", class: "toggle", type: "button",
          onclick: event => send({control: "master_mute", muted: !(view.volume.muted === true)}, event.currentTarget)}))));
    }
    if (view.mics.length) {
      controls.push(card("mics", t("mics"), el("div", {class: "mic-grid"}, ...view.mics.map(mic => el("button", {
        class: "mic toggle", type: "button", "data-mic": mic.name,
        onclick: event => send({control: "mic_mute", mic: mic.name, muted: !(current(mic.name).muted === true)},
                               event.currentTarget)},
        el("span", {class: "mic-name", text: mic.name}), el("span", {class: "mic-state"}),
        el("span", {class: "bars", "aria-hidden": "true"}, ...[1, 2, 3, 4, 5].map(() => el("i"))))))));
    }
    if (view.inputs) {
      controls.push(card("input", t("input"), el("div", {class: "segments"}, ...view.inputs.options.map(option =>
        el("button", {class: "segment", type: "button", "data-input": option.id, text: option.label,
                      onclick: event => send({control: "input", input: option.id}, event.currentTarget)}))),
        el("p", {class: "muted", id: "input-power"})));
    }
    if (view.lights.length) {
      controls.push(card("lights", t("lights"), ...view.lights.map(light => {
        const {input, output} = slider({min: 0, max: 100, step: 5, "data-light": light.device, "aria-label": light.name},
                                       percent => send({control: "light", device: light.device, percent}, input),
                                       percent => percent + " %");
        return el("div", {class: "light", "data-device": light.device},
                  el("div", {class: "row"}, el("span", {text: light.name}), output), input);
      })));
    }
    if (view.climate) {
      const c = view.climate;
      const nudge = sign => event => {
        const now = view.climate.setpoint === null ? (c.min_c + c.max_c) / 2 : view.climate.setpoint;
        const celsius = Math.min(c.max_c, Math.max(c.min_c, now + sign * c.step_c));
        send({control: "setpoint", celsius}, event.currentTarget);
      };
      controls.push(card("climate", t("climate"),
        el("div", {class: "slider-row"},
           el("button", {class: "round", type: "button", "aria-label": "-", text: "−", onclick: nudge(-1)}),
           el("div", {class: "setpoint"}, el("span", {class: "label", text: t("setpoint")}),
              el("strong", {id: "setpoint"})),
           el("button", {class: "round", type: "button", "aria-label": "+", text: "+", onclick: nudge(1)})),
        el("p", {class: "muted", id: "climate-detail"})));
    }
    document.getElementById("controls").replaceChildren(...controls);
  }

  function current(name) {
    return view.mics.find(m => m.name === name) || {};
  }

  function updateControls() {
    if (view.volume) {
      const v = view.volume, input = document.getElementById("volume-range");
      const box = document.getElementById("volume");
      box.dataset.db = v.db === null ? "" : Math.round(v.db);
      box.dataset.online = v.online ? "yes" : "no";
      if (!input.dataset.dragging && !input.dataset.busy && v.db !== null) {
        input.value = Math.round(v.db);
        box.querySelector("output").textContent = Math.round(v.db) + " dB";
      }
      const mute = document.getElementById("master-mute");
      mute.setAttribute("aria-pressed", v.muted ? "true" : "false");
      mute.textContent = v.muted ? t("unmuteAll") : t("muteAll");
    }
    for (const mic of view.mics) {
      const button = document.querySelector(`.mic[data-mic="${CSS.escape(mic.name)}"]`);
      if (!button) continue;
      button.setAttribute("aria-pressed", mic.muted ? "true" : "false");
      button.dataset.on = mic.on === false ? "no" : "yes";
      button.querySelector(".mic-state").textContent = mic.on === false ? t("off") : mic.muted ? t("muted") : t("micLive");
      button.querySelector(".bars").dataset.bars = mic.battery_bars === null ? "" : mic.battery_bars;
      button.querySelectorAll(".bars i").forEach((bar, i) => bar.classList.toggle("lit", i < (mic.battery_bars || 0)));
    }
    if (view.inputs) {
      document.getElementById("input").dataset.current = view.inputs.current || "";
      for (const button of document.querySelectorAll("#input .segment")) {
        button.setAttribute("aria-pressed", button.dataset.input === view.inputs.current ? "true" : "false");
      }
      document.getElementById("input-power").textContent =
        `${view.inputs.name}: ${t("power_" + (view.inputs.power || "unknown"))}`;
    }
    for (const light of view.lights) {
      const box = document.querySelector(`.light[data-device="${CSS.escape(light.device)}"]`);
      if (!box) continue;
      box.dataset.percent = light.percent === null ? "" : light.percent;
      const input = box.querySelector("input");
      if (!input.dataset.dragging && !input.dataset.busy && light.percent !== null) {
        input.value = light.percent;
        box.querySelector("output").textContent = light.percent + " %";
      }
    }
    if (view.climate) {
      const c = view.climate;
      document.getElementById("climate").dataset.setpoint = c.setpoint === null ? "" : c.setpoint;
      document.getElementById("setpoint").textContent = c.setpoint === null ? "—" : c.setpoint.toFixed(1) + " °C";
      document.getElementById("climate-detail").textContent =
        (c.temperature === null ? "" : `${t("room")} ${c.temperature.toFixed(1)} °C · `) +
        t("band", {low: c.min_c, high: c.max_c});
    }
  }

  function drawGlance() {
    const words = {online: "online", offline: "offline_status", starting: "starting_status", fault: "fault",
                   bad_config: "bad_config"};
    document.getElementById("devices").replaceChildren(...view.devices.map(device => el("li", {
      "data-device": device.id, "data-status": device.status},
      el("span", {class: "dot"}), el("span", {text: device.name}),
      el("span", {class: "muted", text: t(words[device.status] || device.status)}))));
    const last = view.last_scene;
    const scene = last && view.scenes.find(s => s.id === last.scene);
    document.getElementById("last-scene").textContent = last
      ? t("lastScene", {scene: scene ? scene.name : last.scene, at: R.time(last.at)}) : "";
  }

  // --- start ---------------------------------------------------------------------------------

  function start() {
    if (link) link.stop();
    if (!token) { showLogin(); return; }
    link = R.connect({getToken: () => token, onMessage, onState: linkState});
  }

  texts();
  start();
})();
