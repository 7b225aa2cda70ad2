// Loquent dashboard helpers: live organization events, confirmations, the agent form. No build
// step.
"use strict";

(function () {
  // A failed form is shown again in the answer to its POST, and a confirmation (`?done=`) is
  // said once: the address bar goes back to the page's own address, so a reload reads the page
  // instead of sending the form again or repeating the confirmation.
  const pagePath = document.body && document.body.dataset.pagePath;
  if (pagePath && /^\/(?!\/)/.test(pagePath) && location.pathname + location.search !== pagePath) {
    history.replaceState(null, "", pagePath);
  }

  const handlers = new Map();
  let socket = null;
  let retry = 0;
  let off = false;

  function connect() {
    if (off) return;
    // /api/realtime serves only pages of the public origin (the layout names it): opened at
    // another address (localhost for 127.0.0.1) the page stays as it is, rather than have every
    // upgrade refused and retried.
    const origin = document.body && document.body.dataset.realtimeOrigin;
    if (origin && origin !== location.origin) {
      off = true;
      console.warn("Live updates are off here: open the dashboard at " + origin);
      return;
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + location.host + "/api/realtime");
    socket.addEventListener("open", () => { retry = 0; });
    socket.addEventListener("message", (msg) => {
      let event;
      try { event = JSON.parse(msg.data); } catch (_) { return; }
      for (const fn of handlers.get(event.type) || []) fn(event.payload);
      for (const fn of handlers.get("*") || []) fn(event);
    });
    socket.addEventListener("close", () => {
      socket = null;
      // Back off up to 30 s so a restarting server is not hammered.
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, Math.min(30000, 500 * 2 ** retry));
    });
    socket.addEventListener("error", () => { /* close follows and reconnects */ });
  }

  window.Loquent = {
    // Calls fn(payload) for each event of the given type ("*" for all, with the whole event).
    on(type, fn) {
      if (!handlers.has(type)) handlers.set(type, []);
      handlers.get(type).push(fn);
      if (!socket) connect();
    },
  };

  // "Import selected (N)": a form with data-count-checked="name" keeps its submit button's count
  // of checked boxes of that name current, and disabled at zero.
  function recount(form) {
    const name = form.getAttribute("data-count-checked");
    const button = form.querySelector("button[data-label]");
    if (!name || !button) return;
    const n = form.querySelectorAll('input[type=checkbox][name="' + name + '"]:checked').length;
    button.textContent = button.getAttribute("data-label") + " (" + n + ")";
    button.disabled = n === 0;
  }
  document.addEventListener("change", (e) => {
    const form = e.target.form;
    if (form && form.hasAttribute("data-count-checked")) recount(form);
  });
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form[data-count-checked]").forEach(recount);
  });

  // Agent form: switching provider switches to its default voice, and to its default model
  // unless a custom one was typed, and shows the chosen provider's note (no API key on this
  // server). Without this script the server reports the mismatch.
  document.addEventListener("change", (e) => {
    const provider = e.target;
    if (provider.id !== "provider" || !provider.form) return;
    const chosen = provider.selectedOptions[0];
    const { voice, model } = provider.form.elements;
    const group = voice && voice.selectedOptions[0] && voice.selectedOptions[0].parentElement;
    if (voice && (!group || group.dataset.provider !== provider.value)) {
      voice.value = chosen.dataset.voice;
    }
    const defaults = Array.from(provider.options, (o) => o.dataset.model);
    if (model && (model.value.trim() === "" || defaults.includes(model.value.trim()))) {
      model.value = chosen.dataset.model;
    }
    provider.form.querySelectorAll("[data-provider-note]").forEach((note) => {
      note.hidden = note.dataset.providerNote !== provider.value;
    });
  });

  // Settings → Twilio → Sync call history. Each "Sync history" button (and "Sync all numbers",
  // which starts every number's sync at once) calls the JSON API and follows the phases over the
  // live socket; a row shows Done only when the Done event arrives, after its last recording,
  // not when the request answers. Without this script the form posts and the page reports.
  const SYNC_LABELS = {
    Fetching: "Fetching calls from Twilio",
    Deduplicating: "Skipping calls already imported",
    ResolvingContacts: "Matching contacts",
    Inserting: "Saving calls",
    UpdatingTimestamps: "Updating contacts",
    ProcessingRecordings: "Processing recordings",
    Done: "Done",
    Error: "Failed",
  };
  function syncSummary(p) {
    const counts = (p.new_count || 0) + " imported, " + (p.skipped || 0) + " already here";
    switch (p.phase) {
      case "Fetching": case "Deduplicating": return (p.fetched || 0) + " calls fetched";
      case "ProcessingRecordings":
        return counts + " · recordings " + (p.completed || 0) + " of " + (p.total || 0);
      case "Error": return p.message || "";
      default: return counts;
    }
  }
  function showSync(p) {
    const row = document.querySelector('tr[data-sync-number="' + p.phone_number_id + '"]');
    if (!row) return;
    const phase = row.querySelector(".sync-phase");
    phase.textContent = SYNC_LABELS[p.phase] || p.phase;
    phase.dataset.phase = p.phase;
    phase.classList.remove("muted");
    row.querySelector(".sync-counts").textContent = syncSummary(p);
    let bar = row.querySelector(".sync-progress");
    if (p.phase === "ProcessingRecordings") {
      if (!bar) {
        bar = document.createElement("progress");
        bar.className = "sync-progress";
        row.querySelector(".sync-state").appendChild(bar);
      }
      bar.max = Math.max(p.total || 0, 1);
      bar.value = p.completed || 0;
    } else if (bar) {
      bar.remove();
    }
    const button = row.querySelector("button[data-sync]");
    if (button) button.disabled = !(p.phase === "Done" || p.phase === "Error");
  }
  function syncNotice(form, text, isError) {
    let p = document.getElementById("sync-result");
    if (!p) {
      p = document.createElement("p");
      p.id = "sync-result";
      p.setAttribute("role", "status");
      form.parentElement.insertBefore(p, form);
    }
    p.className = isError ? "error" : "notice";
    p.textContent = text;
  }
  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("sync-form");
    if (!form) return;
    Loquent.on("twilio.call_sync.progress", showSync);
    form.addEventListener("submit", async (e) => {
      const button = e.submitter;
      if (!button || !(button.hasAttribute("data-sync") || button.hasAttribute("data-sync-all"))) return;
      e.preventDefault();
      const since = form.elements.since ? form.elements.since.value : "";
      const ids = button.hasAttribute("data-sync-all")
        ? Array.from(form.querySelectorAll("button[data-sync]"), (b) => b.dataset.sync)
        : [button.dataset.sync];
      for (const id of ids) {
        const b = form.querySelector('button[data-sync="' + id + '"]');
        if (b) b.disabled = true;
      }
      syncNotice(form, "Importing…", false);
      // A few at a time, as the server's own "sync all" does: each still shows its own phases.
      const syncOne = async (id) => {
        const body = { phone_number_id: id };
        if (since) body.since = since;
        try {
          const res = await fetch("/api/twilio/sync-call-history", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          const json = await res.json().catch(() => ({}));
          return res.ok ? json : { error: (json.error && json.error.message) || res.statusText };
        } catch (err) {
          return { error: String(err) };
        }
      };
      const results = [];
      const queue = ids.slice();
      await Promise.all(Array.from({ length: Math.min(3, queue.length) }, async () => {
        while (queue.length) results.push(await syncOne(queue.shift()));
      }));
      const failed = results.filter((r) => r.error);
      const imported = results.reduce((n, r) => n + (r.imported || 0), 0);
      const skipped = results.reduce((n, r) => n + (r.skipped || 0), 0);
      let text = "Imported " + imported + (imported === 1 ? " call" : " calls") + " (" + skipped +
        " already here). Their recordings are processed in the background.";
      if (failed.length) text = failed.map((r) => r.error).join(" ");
      syncNotice(form, text, failed.length > 0);
      for (const id of ids) {
        const b = form.querySelector('button[data-sync="' + id + '"]');
        const phase = b && b.closest("tr").querySelector(".sync-phase").dataset.phase;
        if (b && (phase === "Done" || phase === "Error" || phase === "")) b.disabled = false;
      }
    });
  });

  document.addEventListener("submit", (e) => {
    const question = e.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) e.preventDefault();
  });
  // Recordings: one plays at a time in a view (seed 003's PLAYING_SID). Starting any <audio>
  // on the page pauses every other one, whether it was started by a row's Play button or by
  // the detail page's player.
  function syncPlayButton(audio) {
    const button = document.querySelector('button[data-play="' + audio.id + '"]');
    if (!button) return;
    const playing = !audio.paused;
    button.setAttribute("aria-pressed", playing ? "true" : "false");
    button.textContent = playing ? "❚❚ Pause" : "▶ Play";
  }
  document.addEventListener("play", (e) => {
    if (!(e.target instanceof HTMLAudioElement)) return;
    document.querySelectorAll("audio").forEach((other) => {
      if (other !== e.target && !other.paused) other.pause();
    });
    window.Loquent.playing = e.target.id || null;
    syncPlayButton(e.target);
  }, true);
  document.addEventListener("pause", (e) => {
    if (!(e.target instanceof HTMLAudioElement)) return;
    if (window.Loquent.playing === e.target.id) window.Loquent.playing = null;
    syncPlayButton(e.target);
  }, true);
  document.addEventListener("click", (e) => {
    const button = e.target.closest && e.target.closest("button[data-play]");
    if (!button) return;
    const audio = document.getElementById(button.getAttribute("data-play"));
    if (!audio) return;
    if (audio.paused) audio.play().catch(() => {}); else audio.pause();
  });

  // Call page: the transcript line being played is highlighted; clicking a line (or Enter on
  // it) seeks the player there.
  function highlight(player) {
    const t = player.currentTime;
    document.querySelectorAll("#transcript .line").forEach((line) => {
      const start = parseFloat(line.dataset.start);
      const end = parseFloat(line.dataset.end);
      const on = t >= start && t < end;
      line.classList.toggle("playing", on);
      if (on) line.setAttribute("aria-current", "true"); else line.removeAttribute("aria-current");
    });
  }
  function seekTo(line) {
    const player = document.getElementById("player");
    if (!player) return;
    player.currentTime = parseFloat(line.dataset.start);
    highlight(player);
    if (player.paused) player.play().catch(() => {});
  }
  document.addEventListener("timeupdate", (e) => {
    if (e.target.id === "player") highlight(e.target);
  }, true);
  document.addEventListener("seeked", (e) => {
    if (e.target.id === "player") highlight(e.target);
  }, true);
  document.addEventListener("click", (e) => {
    const line = e.target.closest && e.target.closest("#transcript .line");
    if (line) seekTo(line);
  });
  document.addEventListener("keydown", (e) => {
    const line = e.target.closest && e.target.closest("#transcript .line");
    if (line && e.key === "Enter") seekTo(line);
  });

  // Replaces the page's live parts with the same parts of a fresh copy of the page: the server
  // renders them, so the page after an event reads exactly as it would after a reload. The
  // player and anything playing stay untouched.
  async function refreshParts(selector) {
    let html;
    try {
      const res = await fetch(location.href, { credentials: "same-origin" });
      if (!res.ok) return null;
      html = await res.text();
    } catch (_) { return null; }
    const fresh = new DOMParser().parseFromString(html, "text/html");
    document.querySelectorAll(selector).forEach((part) => {
      const next = fresh.querySelector("#" + part.id);
      if (next) part.replaceWith(document.adoptNode(next));
    });
    return fresh;
  }

  document.addEventListener("DOMContentLoaded", () => {
    // Call page: steps, analyses and to-dos fill in as the pipeline's events arrive.
    const call = document.getElementById("call");
    if (call) {
      const id = call.dataset.call;
      let pending = null;
      const refresh = () => {
        // Events come in bursts (a step, then its analyses): one fetch per burst.
        clearTimeout(pending);
        pending = setTimeout(() => {
          const rerunStatus = document.getElementById("rerun-status");
          const said = rerunStatus ? rerunStatus.textContent : "";
          // The transcript is replaced only while it is still empty (a replaced list would
          // lose nothing, but there is no need to touch what someone may be reading).
          const parts = document.querySelector("#transcript .line")
            ? '[data-live]:not([data-live="transcript"])' : "[data-live]";
          refreshParts(parts).then(() => {
            const s = document.getElementById("rerun-status");
            if (s && said) s.textContent = said;
          });
        }, 150);
      };
      for (const type of ["call.step", "call.analysis.queued", "call.analysis.completed"]) {
        window.Loquent.on(type, (payload) => {
          if (!payload || payload.call_id !== id) return;
          const s = document.getElementById("rerun-status");
          if (s && type === "call.analysis.completed") s.textContent = "New analysis in.";
          if (s && type === "call.analysis.queued") s.textContent = "Analysis queued…";
          refresh();
        });
      }
      const sid = call.dataset.callSid;
      window.Loquent.on("call.updated", (payload) => {
        if (payload && (payload.call_id === id || payload.call_sid === sid)) refresh();
      });
    }

    // Calls list (first page): a new call appears at the top and a row's status follows the
    // call, without touching a recording that is playing.
    const table = document.querySelector('table#calls[data-live-list="first"]');
    if (table) {
      let pending = null;
      window.Loquent.on("call.updated", () => {
        clearTimeout(pending);
        pending = setTimeout(async () => {
          let html;
          try {
            const res = await fetch(location.href, { credentials: "same-origin" });
            if (!res.ok) return;
            html = await res.text();
          } catch (_) { return; }
          const fresh = new DOMParser().parseFromString(html, "text/html");
          const body = table.tBodies[0];
          let before = body.firstElementChild;
          fresh.querySelectorAll("table#calls tbody tr").forEach((row) => {
            const mine = document.getElementById(row.id);
            if (mine) {
              // Every cell but the player (which may be playing) takes the fresh content.
              mine.querySelectorAll("td[data-cell]").forEach((cell) => {
                const next = row.querySelector('td[data-cell="' + cell.dataset.cell + '"]');
                if (next) cell.innerHTML = next.innerHTML;
              });
              const player = mine.querySelector("td.player");
              if (player && !player.querySelector("audio")) {
                const next = row.querySelector("td.player");
                if (next) player.innerHTML = next.innerHTML;
              }
              before = mine.nextElementSibling;
            } else {
              body.insertBefore(document.adoptNode(row), before);
            }
          });
          table.hidden = false;
          const empty = document.getElementById("calls-empty");
          if (empty && body.rows.length) empty.remove();
        }, 150);
      });
    }

    // "Re-run analysis" through the API, staying on the page; the runs appear as they finish.
    const rerun = document.getElementById("rerun");
    if (rerun) {
      rerun.addEventListener("submit", async (e) => {
        e.preventDefault();
        const status = document.getElementById("rerun-status");
        const button = rerun.querySelector("button");
        button.disabled = true;
        status.textContent = "Queuing…";
        try {
          const res = await fetch(rerun.dataset.api, {
            method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" },
          });
          if (res.ok) {
            const queued = await res.json();
            status.textContent = "Running " + queued.job_ids.length + " analyzer(s)…";
          } else {
            const body = await res.json().catch(() => ({}));
            status.textContent = (body.error && body.error.message) || ("Could not re-run (" + res.status + ").");
          }
        } catch (_) {
          status.textContent = "Could not reach the server. Try again.";
        } finally {
          button.disabled = false;
        }
      });
    }
  });
})();

// A web call: talk to an agent from the page (the agent page's "Talk"). The microphone goes to
// the server as 20 ms PCM16 frames at 24 kHz and the agent's audio comes back the same way,
// through the worklets in /static/web-call-worklet.js; text messages are the call's control
// (see the API's `agents_web_call`).
(function () {
  const panel = document.querySelector("[data-web-call]");
  if (!panel) return;
  const start = panel.querySelector("[data-web-call-start]");
  const end = panel.querySelector("[data-web-call-end]");
  const status = panel.querySelector("[data-web-call-status]");
  const lines = panel.querySelector("[data-web-call-transcript]");
  let call = null;

  function say(text) {
    status.textContent = text;
  }

  function line(speaker, text) {
    const li = document.createElement("li");
    li.className = "line " + speaker;
    const who = document.createElement("b");
    who.textContent = speaker === "agent" ? "Agent" : "You";
    li.append(who, " ", text);
    lines.append(li);
  }

  function count(name, n) {
    panel.dataset[name] = String(Number(panel.dataset[name] || 0) + n);
  }

  // Ends `which` (the current call; a late event of an earlier one changes nothing).
  function finish(which, reason) {
    if (!call || call !== which) return;
    const { ws, ctx, stream, callId } = call;
    call = null;
    stream.getTracks().forEach((t) => t.stop());
    ctx.close().catch(() => {});
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
    end.hidden = true;
    start.hidden = false;
    start.disabled = false;
    start.textContent = "Talk again";
    status.textContent = "";
    status.append("Call ended" + (reason ? ": " + reason : ".") + " ");
    if (callId) {
      const a = document.createElement("a");
      a.href = "/calls/" + callId;
      a.textContent = "See the call";
      status.append(a);
    }
    panel.dataset.state = "ended";
  }

  start.addEventListener("click", async () => {
    start.disabled = true;
    lines.replaceChildren();
    say("Asking for your microphone…");
    let stream = null;
    let ctx = null;
    let mic = null;
    let speaker = null;
    // The whole audio graph is built before the call is placed: a browser that cannot run it
    // leaves no call behind.
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
      });
      ctx = new AudioContext({ sampleRate: 24000 });
      await ctx.audioWorklet.addModule("/static/web-call-worklet.js");
      mic = new AudioWorkletNode(ctx, "loquent-capture");
      speaker = new AudioWorkletNode(ctx, "loquent-playback", { outputChannelCount: [1] });
      ctx.createMediaStreamSource(stream).connect(mic);
      speaker.connect(ctx.destination);
      // Created after an await, the context may start suspended (the click's activation spent).
      await ctx.resume();
    } catch (e) {
      if (stream) stream.getTracks().forEach((t) => t.stop());
      if (ctx) ctx.close().catch(() => {});
      say("No call: the microphone or audio is not available (" + (e && e.message ? e.message : e) + ").");
      start.disabled = false;
      return;
    }
    const url = new URL(panel.dataset.webCall, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const as = panel.querySelector("[data-web-call-as]");
    if (as && as.value) url.searchParams.set("contact_id", as.value);
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const me = { ws, ctx, stream, callId: null, opened: false };
    call = me;
    say("Connecting…");
    mic.port.onmessage = (e) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(e.data);
    };
    speaker.port.onmessage = (e) => {
      if (e.data.played !== undefined && ws.readyState === WebSocket.OPEN) {
        count("played", 1);
        ws.send(JSON.stringify({ type: "mark", name: e.data.played }));
      }
    };
    ws.onmessage = (e) => {
      if (call !== me) return;
      if (typeof e.data !== "string") {
        count("agentBytes", e.data.byteLength);
        speaker.port.postMessage({ audio: e.data }, [e.data]);
        return;
      }
      const m = JSON.parse(e.data);
      if (m.type === "started") {
        me.callId = m.call_id;
        panel.dataset.state = "live";
        say("On the call. Speak when you are ready.");
        start.hidden = true;
        end.hidden = false;
      } else if (m.type === "mark") {
        speaker.port.postMessage({ mark: m.name });
      } else if (m.type === "clear") {
        count("clears", 1);
        speaker.port.postMessage({ clear: true });
      } else if (m.type === "transcript") {
        line(m.speaker, m.text);
      } else if (m.type === "end") {
        finish(me, m.reason);
      }
    };
    ws.onopen = () => {
      me.opened = true;
    };
    // A refused upgrade (signed out, no permission, the agent deleted) closes before opening.
    ws.onclose = () =>
      finish(me, me.opened ? null : "the server refused the call (reload the page and sign in again).");
  });

  end.addEventListener("click", () => {
    const current = call;
    if (current && current.ws.readyState === WebSocket.OPEN) {
      current.ws.send(JSON.stringify({ type: "end" }));
    }
    finish(current, "you hung up.");
  });
})();
