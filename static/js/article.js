// The TL;DR and the contents are folded on a phone, so the article starts on the first screen;
// on a wider screen they open. Without JavaScript they stay folded, one tap away.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.matchMedia("(min-width: 40rem)").matches) return;
    document.querySelectorAll("details[data-open-wide]").forEach(function (details) {
      details.open = true;
    });
  });
})();
