// memtrace dashboard: the little that needs a script. No inline handlers (the CSP forbids them).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Copy buttons: data-copy names the element whose text is copied.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const status = document.getElementById(button.getAttribute("aria-describedby") || "");
      if (!source) return;
      const text = source.textContent;
      let ok = false;
      try {
        await navigator.clipboard.writeText(text);
        ok = true;
      } catch (_) {
        // Clipboard API refused (plain http on another host): select the text for Ctrl+C instead.
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
      }
      button.textContent = ok ? "Copied" : "Selected: press Ctrl+C";
      if (status) status.textContent = ok ? "Copied to the clipboard." : "Text selected.";
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  }

  // "/" focuses the search box, as on most sites; Escape leaves it.
  const search = document.querySelector("input[data-shortcut='/']");
  document.addEventListener("keydown", (event) => {
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
    if (search && event.key === "/" && !typing && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      search.focus();
      search.select();
    } else if (event.key === "Escape" && document.activeElement === search) {
      search.blur();
    }
  });
});
