// Small progressive enhancements; every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Live colour preview on the branding form.
  const colour = document.querySelector("[data-brand-input]");
  const preview = document.querySelector("[data-brand-preview]");
  if (colour && preview) {
    const apply = () => preview.style.setProperty("--brand", colour.value);
    colour.addEventListener("input", apply);
    apply();
  }

  // Reply composer: live character/segment count, the same rules as messaging/segments.py (the server renders
  // this line too, so it is only a convenience). Line breaks count once, as the server normalises CRLF to LF.
  const GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  const GSM_EXT = "^{}\\[~]|€\f";
  // Delegated, so a composer swapped in by htmx keeps its counter.
  document.addEventListener("input", (event) => {
    const out = event.target.id && document.querySelector(`[data-segment-counter="${event.target.id}"]`);
    if (!out) return;
    const text = event.target.value.trim();
    const chars = [...text];
    const odd = [...new Set(chars.filter((c) => !GSM.includes(c) && !GSM_EXT.includes(c)))];
    const units = odd.length ? text.length : chars.reduce((n, c) => n + (GSM_EXT.includes(c) ? 2 : 1), 0);
    const [single, multi] = odd.length ? [70, 67] : [160, 153];
    const segments = units === 0 ? 0 : units <= single ? 1 : Math.ceil(units / multi);
    let line = `${units} characters · ${segments} segment${segments === 1 ? "" : "s"} · ${odd.length ? "UCS-2" : "GSM-7"}`;
    if (odd.length) line += ` (not in GSM-7: ${odd.join(" ")}; each segment holds 70 characters instead of 160)`;
    out.textContent = line;
  });

  // Canned replies: Insert puts the chosen reply into the composer instead of reloading the page (without this
  // file the form loads the conversation with the reply filled in). It replaces the selected text or goes in at
  // the cursor; into a box nobody has clicked in it goes at the end. Delegated, for composers swapped in by htmx.
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("[data-canned-form]");
    const box = form && document.getElementById(form.dataset.cannedForm);
    const option = form && form.querySelector("select")?.selectedOptions[0];
    if (!box || box.disabled || !option) return;
    event.preventDefault();
    let [start, end] = [box.selectionStart, box.selectionEnd];
    if (document.activeElement !== box && start === 0 && end === 0) [start, end] = [box.value.length, box.value.length];
    const before = box.value.slice(0, start);
    const text = (before && !/\s$/.test(before) ? " " : "") + (option.dataset.body || "");
    box.setRangeText(text, start, end, "end");
    box.dispatchEvent(new Event("input", { bubbles: true }));  // the segment counter
    box.focus();
  });
});
