// The Markdown editor in admin: a moment after the editor stops typing, the server renders the
// text as the public page renders it (glossary marked, HTML sanitized) and the preview shows it.
(function () {
  "use strict";
  const WAIT_MS = 300;
  const UNAVAILABLE = "Preview unavailable.";

  function csrfToken(element) {
    const form = element.closest("form");
    const input = form && form.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function attach(editor) {
    const source = editor.querySelector("textarea");
    const preview = editor.querySelector("[data-markdown-preview]");
    const status = editor.querySelector("[data-markdown-status]");
    const note = editor.querySelector("[data-markdown-note]");
    if (!source || !preview || !status) return;
    let asked = 0;  // requests are numbered
    let shown = 0;  // the request whose answer is on screen
    let timer = null;

    // Answers can arrive out of order: one older than what is on screen is dropped.
    function isCurrent(number) {
      if (number < shown) return false;
      shown = number;
      return true;
    }

    function show(number, html, remark) {
      if (!isCurrent(number)) return;
      preview.innerHTML = html;  // sanitized by the server
      if (note) note.textContent = remark || "";
      // The admin page has ids of its own, and a link followed from here loses unsaved text.
      for (const element of preview.querySelectorAll("[id]")) element.id = `preview-${element.id}`;
      for (const link of preview.querySelectorAll("a[href]")) {
        link.target = "_blank";
        link.rel = "noopener noreferrer";
      }
      preview.classList.remove("is-stale");
      status.textContent = "";
    }

    function fail(number, message) {
      if (!isCurrent(number)) return;
      preview.classList.add("is-stale");
      status.textContent = message || UNAVAILABLE;
    }

    async function render() {
      const number = ++asked;
      if (!source.value.trim()) {
        show(number, "");
        return;
      }
      try {
        const response = await fetch(editor.dataset.previewUrl, {
          method: "POST",
          headers: { Accept: "application/json", "X-CSRFToken": csrfToken(editor) },
          body: new URLSearchParams({ source: source.value }),
          credentials: "same-origin",
        });
        const data = await response.json();
        if (response.ok && typeof data.html === "string") show(number, data.html, data.note);
        else fail(number, data.error && `${UNAVAILABLE} ${data.error}`);
      } catch (error) {
        fail(number);  // offline, signed out (the login page is not JSON), or a server error
      }
    }

    source.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(render, WAIT_MS);
    });
    render();
  }

  document.querySelectorAll("[data-markdown-editor]").forEach(attach);
})();
