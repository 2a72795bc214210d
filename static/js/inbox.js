// The live inbox: polling for changes, browser alerts, keyboard shortcuts. Every page works without this file
// (a reload shows the same thing); with it, the list and an open conversation follow changes within ~2 seconds.
(() => {
  const POLL_MS = 2000;

  // A part of the page the operator is typing in or has focus in is left alone: a refresh must never eat
  // half-written text. It catches up on the next change after they leave it.
  const busy = (el) =>
    el.contains(document.activeElement) ||
    [...el.querySelectorAll("input, textarea, select")].some((field) => {
      if (field.type === "hidden" || field.type === "submit") return false;
      if (field.tagName === "SELECT") return [...field.options].some((o) => o.selected !== o.defaultSelected);
      if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
      return field.value !== field.defaultValue;
    }) ||
    [...el.querySelectorAll("details")].some((d) => d.open);

  // Replace each element of `html` that has an id with the page's element of the same id.
  const swapParts = (html) => {
    const doc = new DOMParser().parseFromString(`<body>${html}</body>`, "text/html");
    for (const fresh of [...doc.body.children].filter((el) => el.id)) {
      const current = document.getElementById(fresh.id);
      if (!current || busy(current)) continue;
      fresh.removeAttribute("hx-swap-oob");
      const node = document.importNode(fresh, true);
      current.replaceWith(node);
      if (window.htmx) window.htmx.process(node);
    }
    refreshAgo();
  };

  // "Sam replied 10 s ago": keep relative times true between refreshes.
  const refreshAgo = () => {
    for (const el of document.querySelectorAll("time[data-ago]")) {
      const seconds = Math.max(0, Math.round((Date.now() - Date.parse(el.getAttribute("datetime"))) / 1000));
      el.textContent =
        seconds < 60 ? `${seconds} s ago` : seconds < 3600 ? `${Math.floor(seconds / 60)} min ago` : el.textContent;
    }
  };

  // Browser alerts with a short tone, once the member allowed them (the button asks: browsers require a click).
  let audio;
  const beep = () => {
    try {
      audio = audio || new AudioContext();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.4);
    } catch (_) {
      /* no sound available: the visual alert still shows */
    }
  };
  const alertFor = (items) => {
    if (!items.length) return;
    beep();
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    for (const item of items.slice(0, 3)) {
      const note = new Notification("SecondDesk", { body: item.text, tag: `sd-${item.id}` });
      if (item.url) note.onclick = () => { window.focus(); window.location.href = item.url; };
    }
  };
  const setupAlertButton = () => {
    const button = document.querySelector("[data-enable-alerts]");
    if (!button || !("Notification" in window)) return;
    const show = () => { button.hidden = Notification.permission !== "default"; };
    show();
    button.addEventListener("click", () => Notification.requestPermission().then(show));
  };

  const startPolling = (root) => {
    let version = root.dataset.liveVersion;
    let business = root.dataset.liveBusiness || "";
    let inflight = false;
    const poll = async () => {
      if (inflight) return;
      inflight = true;
      try {
        const url = new URL(root.dataset.liveUrl, window.location.href);
        if (version) {
          // a conversation: its own version, and the business's for alerts from other conversations
          url.searchParams.set("v", version);
          url.searchParams.set("b", business);
        } else {
          url.searchParams.set("live", business); // the list: the business's version
        }
        const response = await fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" });
        if (response.status === 200) {
          version = response.headers.get("X-Live-Version") || version;
          business = response.headers.get("X-Live-Business") || business;
          const alerts = response.headers.get("X-Live-Alerts");
          swapParts(await response.text());
          if (alerts) alertFor(JSON.parse(alerts));
        } else if (response.status === 401 || response.status === 403) {
          window.location.reload(); // logged out or removed: the server decides what to show
        }
      } catch (_) {
        /* offline for a moment: try again on the next tick */
      } finally {
        inflight = false;
      }
    };
    setInterval(poll, POLL_MS);
    // After our own action the page already shows the change; take the new version so we do not refetch it.
    document.body.addEventListener("htmx:afterRequest", (event) => {
      const next = event.detail.xhr && event.detail.xhr.getResponseHeader("X-Live-Version");
      if (next) version = next;
    });
  };

  // Keyboard shortcuts on desktop: a key clicks or focuses the element marked data-shortcut="<key>"; on the
  // list, j/k move between conversations and Enter opens one; "/" searches.
  const shortcuts = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const rows = [...document.querySelectorAll(".inbox-row")];
    if ((event.key === "j" || event.key === "k") && rows.length) {
      const at = rows.indexOf(document.activeElement);
      const next = event.key === "j" ? Math.min(rows.length - 1, at + 1) : Math.max(0, at - 1);
      rows[next].focus();
      event.preventDefault();
      return;
    }
    const key = event.key === "/" ? "/" : event.key.toLowerCase();
    const el = document.querySelector(`[data-shortcut="${CSS.escape(key)}"]`);
    if (!el) return;
    event.preventDefault();
    if (el.matches("input, textarea, select")) el.focus();
    else el.click();
  };

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.querySelector("[data-live-url]");
    if (root) startPolling(root);
    setupAlertButton();
    refreshAgo();
    setInterval(refreshAgo, 1000);
    document.addEventListener("keydown", shortcuts);
    document.body.addEventListener("actionDone", (event) => {
      const form = event.target.closest && event.target.closest("form[data-reset-on-done]");
      if (form) form.reset();
    });
  });
})();
