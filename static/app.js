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

  document.addEventListener("submit", (e) => {
    const question = e.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) e.preventDefault();
  });
})();
