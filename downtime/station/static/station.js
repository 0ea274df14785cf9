// The review station's keyboard: Esc goes back to the queue, Alt+R to the reject reason.
// Forms submit with Enter by themselves; the page puts the cursor where typing starts.
"use strict";
document.addEventListener("keydown", (event) => {
  const item = document.querySelector("[data-back]");
  if (event.key === "Escape" && item) {
    event.preventDefault();
    window.location.assign(item.dataset.back);
  } else if (event.altKey && (event.key === "r" || event.key === "R")) {
    const reason = document.querySelector("#reject input[name=reason]");
    if (reason) {
      event.preventDefault();
      reason.focus();
    }
  }
});
document.addEventListener("DOMContentLoaded", () => {
  for (const img of document.querySelectorAll("figure.sheet img")) {
    const missing = () => {
      img.hidden = true;
      img.nextElementSibling.hidden = false;
    };
    if (img.complete && img.naturalWidth === 0) missing();
    img.addEventListener("error", missing);
  }
});
