// The review station's keyboard: Esc goes back to the queue, Alt+R to the reason (reject or
// skip), Alt+P (or P outside a text box) shows the whole page. In a field's states, the key
// of a state (M, E, W, B) sets it and moves on to the next field; Enter submits the decision.
// On a page in conflict, 1 or 2 keeps that capture. A drug input (data-suggest) offers the
// drug names that match what is typed so far, asked of the station as the typing pauses.
// Forms submit with Enter by themselves; the page puts the cursor where typing starts.
"use strict";
function togglePage() {
  const whole = document.querySelector("figure.whole");
  if (!whole) return;
  const img = whole.querySelector("img");
  if (img.dataset.src && !img.getAttribute("src")) img.src = img.dataset.src; // fetched (and audited) when shown
  whole.hidden = !whole.hidden;
  if (!whole.hidden) whole.scrollIntoView({ block: "start" });
}
function stateKey(event) {
  const set = event.target.closest ? event.target.closest("fieldset.states") : null;
  if (!set || event.altKey || event.ctrlKey || event.metaKey) return false;
  const radio = set.querySelector(`input[data-key="${event.key.toLowerCase()}"]`);
  if (!radio) return false;
  radio.checked = true;
  const sets = [...document.querySelectorAll("fieldset.states")];
  const next = sets[sets.indexOf(set) + 1];
  if (next) (next.querySelector("input:checked") || next.querySelector("input")).focus();
  else document.querySelector("form.decide button.primary").focus();
  return true;
}
document.addEventListener("keydown", (event) => {
  const item = document.querySelector("[data-back]");
  const typing = event.target.matches && event.target.matches("input:not([type=radio]), textarea");
  if (event.key === "Escape" && item) {
    event.preventDefault();
    window.location.assign(item.dataset.back);
  } else if (event.altKey && (event.key === "r" || event.key === "R")) {
    const reason = document.querySelector("#reject input[name=reason]");
    if (reason) {
      event.preventDefault();
      reason.focus();
    }
  } else if ((event.altKey || !typing) && (event.key === "p" || event.key === "P")) {
    if (document.querySelector("figure.whole")) {
      event.preventDefault();
      togglePage();
    }
  } else if (!typing && document.querySelector(`button[data-keep="${event.key}"]`)) {
    event.preventDefault();
    document.querySelector(`button[data-keep="${event.key}"]`).click();
  } else if (stateKey(event)) {
    event.preventDefault();
  } else if (event.key === "Enter" && event.target.type === "radio") {
    event.preventDefault();
    event.target.form.requestSubmit();
  }
});
document.addEventListener("DOMContentLoaded", () => {
  for (const img of document.querySelectorAll("figure.sheet img")) {
    const missing = () => {
      img.hidden = true;
      img.nextElementSibling.hidden = false;
    };
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) missing();
    img.addEventListener("error", missing);
  }
  for (const button of document.querySelectorAll("[data-toggle-page]")) {
    button.addEventListener("click", togglePage);
  }
});
function suggestDrugs(input) {
  const list = document.getElementById(input.getAttribute("list"));
  let timer = null;
  let asked = "";
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const typed = input.value.trim();
      if (!typed || typed === asked) return;
      asked = typed;
      const answer = await fetch(`${input.dataset.suggest}?q=${encodeURIComponent(typed)}`, {
        credentials: "same-origin",
      });
      if (!answer.ok || asked !== typed) return;
      const found = await answer.json();
      if (found.q !== asked) return; // typing went on meanwhile
      list.replaceChildren(...found.drugs.map((name) => new Option("", name)));
    }, 120);
  });
}
document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("input[data-suggest]")) suggestDrugs(input);
});
