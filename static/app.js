// Loquent dashboard helpers: live organization events, confirmations, the agent form. No build
// step.
"use strict";

(function () {
  const handlers = new Map();
  let socket = null;
  let retry = 0;

  function connect() {
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
  // unless a custom one was typed. Without this script the server reports the mismatch.
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
})();
