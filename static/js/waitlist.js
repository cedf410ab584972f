// Progressive enhancement for the waitlist form: submit with fetch and answer in place.
// Without JavaScript the same form posts and the server redirects; nothing depends on this file.
(function () {
  "use strict";

  function fillFromPage(form) {
    var params = new URLSearchParams(window.location.search);
    ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "ref"].forEach(function (key) {
      var input = form.querySelector('input[name="' + key + '"]');
      if (input && !input.value && params.get(key)) input.value = params.get(key).slice(0, 100);
    });
    var referrer = form.querySelector('input[name="referrer"]');
    if (referrer && !referrer.value && document.referrer) referrer.value = document.referrer.slice(0, 500);
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error.js, .suggestion").forEach(function (node) { node.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (node) {
      node.removeAttribute("aria-invalid");
      node.removeAttribute("aria-describedby");
    });
  }

  function showErrors(form, errors, status) {
    var messages = [];
    Object.keys(errors).forEach(function (name) {
      var text = errors[name].map(function (e) { return e.message || e; }).join(" ");
      var input = form.querySelector('[name="' + name + '"]');
      if (input && input.type !== "hidden") {
        // Told once, beside its field (read out when the field takes the focus below).
        var note = document.createElement("p");
        note.className = "field-error js";
        note.id = input.id + "-error";
        note.textContent = text;
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", note.id);
        input.insertAdjacentElement("afterend", note);
      } else {
        messages.push(text);
      }
    });
    status.textContent = messages.join(" ");
    var first = form.querySelector("[aria-invalid]");
    if (first) first.focus();
  }

  // A likely typo: offer the usual spelling; sending the address again as it was keeps it.
  function offer(form, suggestion, checked) {
    var input = form.querySelector('input[name="email"]');
    var line = document.createElement("p");
    line.className = "suggestion";
    var use = document.createElement("button");
    use.type = "button";
    use.className = "link-button";
    use.textContent = "Use " + suggestion;
    use.addEventListener("click", function () {
      input.value = suggestion;
      form.requestSubmit ? form.requestSubmit() : form.submit();
    });
    var kept = document.createElement("input");
    kept.type = "hidden";
    kept.name = "checked_email";
    kept.value = checked;
    line.appendChild(use);
    line.appendChild(kept);
    var note = form.querySelector(".field-error");
    (note || input).insertAdjacentElement("afterend", line);
  }

  function enhance(form) {
    fillFromPage(form);
    form.addEventListener("submit", function (event) {
      if (!window.fetch) return;
      event.preventDefault();
      // What the form holds now (an offered spelling's note goes with the old errors below), and
      // the button that sent it, as a browser sends it ("Use …" on a typo).
      var body = new FormData(form);
      if (event.submitter && event.submitter.name) body.append(event.submitter.name, event.submitter.value);
      var status = form.querySelector(".join-status");
      var button = form.querySelector('button[type="submit"]');
      clearErrors(form);
      button.disabled = true;
      status.textContent = "Sending…";
      fetch(form.action, {
        method: "POST",
        body: body,
        headers: { Accept: "application/json" },
        credentials: "omit",
      })
        .then(function (response) {
          return response.json().then(function (data) { return { ok: response.ok, data: data }; });
        })
        .then(function (result) {
          if (result.ok) {
            var address = form.querySelector('input[name="email"]').value.trim();
            form.reset();
            status.textContent = "Thanks! Check your inbox at " + address +
              ": we've sent a link to confirm your address. If it doesn't arrive in a few minutes, look in your spam folder.";
            status.classList.add("success");
          } else {
            showErrors(form, result.data.errors || {}, status);
            if (result.data.suggestion) offer(form, result.data.suggestion, result.data.checked);
          }
        })
        .catch(function () {
          status.textContent = "We couldn't reach the server. Please try again.";
        })
        .finally(function () { button.disabled = false; });
    });
  }

  // The referral link: a copy button, and the phone's share sheet where there is one. The
  // plain share links beside them work without this.
  function enhanceShare(box) {
    var url = box.getAttribute("data-url");
    var status = box.querySelector(".share-status");
    var copy = box.querySelector("[data-copy]");
    var share = box.querySelector("[data-share-native]");
    copy.hidden = false;
    copy.addEventListener("click", function () {
      var done = function () { status.textContent = "Link copied."; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(url).then(done, function () {
          status.textContent = "Select the link above and copy it.";
        });
      } else {
        box.querySelector("input").select();
        if (document.execCommand("copy")) done();
      }
    });
    if (navigator.share) {
      share.hidden = false;
      share.addEventListener("click", function () {
        navigator.share({ title: box.getAttribute("data-title"), text: box.getAttribute("data-text"), url: url })
          .catch(function () { /* the person closed the sheet */ });
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-join-form]").forEach(enhance);
    document.querySelectorAll("[data-share-box]").forEach(enhanceShare);
  });
})();
