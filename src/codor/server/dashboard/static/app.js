/* CODOR dashboard: live parts on top of pages that work without JavaScript. */
"use strict";
(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function when(us) {
    if (typeof us !== "number") return ["", ""];
    const d = new Date(us / 1000);
    return [d.toISOString(), d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")];
  }

  function eventItem(s) {
    const li = el("li", "event new out-" + (s.outcome || "none"));
    li.setAttribute("data-row", "");
    li.tabIndex = -1;
    li.append(el("span", "idx", "#" + s.index));
    li.append(el("span", "pill " + (s.outcome || "neutral"), s.outcome || s.type));
    li.append(el("span", "title", s.title));
    li.append(el("span", "detail", s.detail));
    if (s.session) {
      const a = el("a", "sess", s.session);
      a.href = "/sessions/" + encodeURIComponent(s.session);
      li.append(a);
    }
    const [iso, text] = when(s.wall_us);
    const t = el("time", "", text);
    if (iso) t.dateTime = iso;
    li.append(t);
    return li;
  }

  function setStatus(node, state, text) {
    if (!node) return;
    node.dataset.state = state;
    node.textContent = text;
  }

  function bump(id, by) {
    const node = document.getElementById(id);
    if (!node) return;
    const n = parseInt(node.textContent, 10);
    node.textContent = String((isNaN(n) ? 0 : n) + by);
  }

  /* Overview: the live event list and counters. */
  function overview() {
    const list = document.getElementById("events");
    if (!list || !window.EventSource) return;
    const status = document.getElementById("stream-status");
    const source = new EventSource(list.dataset.stream);
    let summaryTimer = null;
    source.onopen = () => setStatus(status, "live", "live");
    source.onerror = () => setStatus(status, "error", "reconnecting…");
    source.addEventListener("entry", (ev) => {
      const data = JSON.parse(ev.data);
      const s = data.summary;
      const empty = document.getElementById("events-empty");
      if (empty) empty.remove();
      list.prepend(eventItem(s));
      while (list.children.length > 200) list.lastElementChild.remove();
      const size = document.getElementById("count-size");
      if (size) size.textContent = String(Math.max(parseInt(size.textContent, 10) || 0, s.index + 1));
      if (s.type === "decision" && ["allow", "deny", "ask"].includes(s.outcome)) bump("count-" + s.outcome, 1);
      if (!summaryTimer) summaryTimer = setTimeout(refreshSummary, 700);
    });
    source.addEventListener("dropped", (ev) => {
      setStatus(status, "live", "live (" + JSON.parse(ev.data).dropped + " events skipped)");
    });
    function refreshSummary() {
      summaryTimer = null;
      fetch("/dashboard/summary", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((r) => (r.ok ? r.json() : null))
        .then((s) => {
          if (!s) return;
          const pending = document.getElementById("count-pending");
          if (pending && s.pending !== null) {
            const a = pending.querySelector("a");
            if (a) a.textContent = String(s.pending); else pending.textContent = String(s.pending);
          }
          const cp = document.getElementById("count-checkpoint");
          if (cp) cp.textContent = s.checkpoint === null ? "none" : String(s.checkpoint);
        })
        .catch(() => {});
    }
  }

  /* Approvals: keep the pending list current without taking focus away from anyone. */
  function approvals() {
    const box = document.getElementById("pending");
    if (!box) return;
    const status = document.getElementById("pending-status");
    let timer = null;
    function refresh() {
      timer = null;
      if (box.contains(document.activeElement) && document.activeElement !== document.body) {
        setStatus(status, "live", "new requests — they will show when you leave this list");
        schedule(3000);
        return;
      }
      fetch(box.dataset.refresh, { credentials: "same-origin" })
        .then((r) => (r.ok ? r.text() : null))
        .then((html) => {
          if (html === null) return;
          const tmp = document.createElement("div");
          tmp.innerHTML = html;  /* our own server-rendered, escaped fragment */
          if (tmp.innerHTML.trim() !== box.innerHTML.trim()) box.innerHTML = tmp.innerHTML;
          setStatus(status, "live", "up to date");
        })
        .catch(() => setStatus(status, "error", "offline"));
    }
    function schedule(ms) { if (!timer) timer = setTimeout(refresh, ms); }
    if (window.EventSource) {
      const source = new EventSource("/v1/stream");
      source.onopen = () => setStatus(status, "live", "live");
      source.addEventListener("entry", (ev) => {
        const s = JSON.parse(ev.data).summary;
        if ((s.type === "decision" && s.outcome === "ask") || s.type === "approval") {
          schedule(250);
          setTimeout(() => schedule(250), 1000);  /* the queue may add it just after the entry */
        }
      });
    }
    setInterval(() => schedule(0), 5000);
  }

  /* Ledger: "Verify now" with a progress bar fed by Server-Sent Events. */
  function ledger() {
    const form = document.getElementById("verify-form");
    const box = document.getElementById("verify");
    if (!form || !box || !window.EventSource) return;
    const bar = document.getElementById("verify-progress");
    const result = document.getElementById("verify-result");
    const button = document.getElementById("verify-btn");

    function show(state) {
      bar.hidden = false;
      if (state.indeterminate || !state.total) bar.removeAttribute("value");
      else { bar.max = state.total; bar.value = state.done; }
      result.textContent = "Verifying… " + state.done + " / " + state.total;
    }
    function finish(state) {
      button.disabled = false;
      result.textContent = "";
      const r = state.report;
      let pill, text;
      if (state.error) { pill = ["deny", "error"]; text = " " + state.error; }
      else if (r && r.ok) {
        pill = ["allow", "verified"];
        text = " " + r.size + " entries and " + r.checkpoints + " checkpoints in " + state.seconds + " s";
        bar.max = Math.max(1, r.size); bar.value = Math.max(1, r.size);
      } else { pill = ["deny", "failed"]; text = " at entry " + r.first_bad_index + ": " + r.problem; }
      result.append(el("span", "pill " + pill[0], pill[1]), document.createTextNode(text));
      result.dataset.outcome = pill[1];
    }
    function follow(url) {
      const source = new EventSource(url);
      source.addEventListener("progress", (ev) => show(JSON.parse(ev.data)));
      source.addEventListener("done", (ev) => { source.close(); finish(JSON.parse(ev.data)); });
      source.onerror = () => { source.close(); button.disabled = false; };
    }
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      button.disabled = true;
      delete result.dataset.outcome;
      show({ done: 0, total: 0, indeterminate: true });
      fetch(form.action, {
        method: "POST", credentials: "same-origin", body: new FormData(form),
        headers: { Accept: "application/json", "X-CSRF-Token": csrf() },
      })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then((job) => follow(job.events))
        .catch((e) => { button.disabled = false; result.textContent = "Could not start: " + e; });
    });
    if (box.dataset.job && box.dataset.finished === "false") follow("/ledger/verify/" + box.dataset.job + "/events");
  }

  /* j / k: move between rows of the page's lists. */
  function keyboard() {
    document.addEventListener("keydown", (ev) => {
      if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
      const t = ev.target;
      if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
      if (ev.key !== "j" && ev.key !== "k") return;
      const rows = Array.from(document.querySelectorAll("[data-row]"));
      if (!rows.length) return;
      const current = rows.findIndex((r) => r === document.activeElement || r.contains(document.activeElement));
      let next = ev.key === "j" ? current + 1 : current - 1;
      if (current < 0) next = 0;
      next = Math.max(0, Math.min(rows.length - 1, next));
      const row = rows[next];
      if (!row.hasAttribute("tabindex")) row.tabIndex = -1;
      row.focus();
      row.scrollIntoView({ block: "nearest" });
      ev.preventDefault();
    });
  }

  document.addEventListener("DOMContentLoaded", () => { overview(); approvals(); ledger(); keyboard(); });
})();
