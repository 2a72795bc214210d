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
});
