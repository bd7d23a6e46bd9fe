// Shared helpers: JSON calls with the session's CSRF token, messages, log out.
"use strict";
const LW = (() => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";

  async function api(method, url, body) {
    const opts = { method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(url, opts);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 401) { window.location = "/login?next=" + encodeURIComponent(location.pathname); }
    if (!res.ok) {
      let msg = (data && data.detail) || res.statusText;
      if (Array.isArray(msg)) msg = msg.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
      const err = new Error(msg);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  let timer = null;
  function toast(text, kind) {
    const el = document.getElementById("toast");
    el.textContent = text;  // text, never HTML
    el.className = "show " + (kind || "");
    clearTimeout(timer);
    timer = setTimeout(() => { el.className = ""; }, kind === "error" ? 6000 : 2500);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function formData(form) {
    const out = {};
    for (const [k, v] of new FormData(form).entries()) out[k] = v;
    return out;
  }

  const logout = document.getElementById("logout");
  if (logout) logout.addEventListener("click", async () => {
    try { await api("POST", "/api/logout"); } finally { window.location = "/login"; }
  });
  return { api, toast, el, formData };
})();
