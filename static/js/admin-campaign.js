// The campaign page's progress, kept up to date while the campaign is scheduled or sending:
// it asks the server every few seconds and writes the counts, the rate and the time left.
(function () {
  "use strict";
  const panel = document.querySelector("[data-campaign-progress]");
  if (!panel) return;
  const LIVE = ["scheduled", "sending"];
  const EVERY_MS = 3000;
  const bar = panel.querySelector("progress");

  function field(name, value) {
    const element = panel.querySelector(`[data-field="${name}"]`);
    if (element) element.textContent = value;
  }

  function pace(data) {
    if (!data.rate) return "";
    let text = `${data.rate} a second`;
    if (data.eta_seconds) {
      const minutes = Math.round(data.eta_seconds / 60);
      text += minutes >= 1 ? `, about ${minutes} min left` : ", under a minute left";
    }
    return text + ".";
  }

  async function refresh() {
    let data = null;
    try {
      const response = await fetch(panel.dataset.url, { headers: { Accept: "application/json" } });
      if (response.ok) data = await response.json();
    } catch (error) {
      data = null;  // a blip: try again at the next tick
    }
    if (data) {
      for (const name of ["sent", "failed", "skipped", "queued", "sending", "total", "percent", "status_label"]) {
        field(name, data[name]);
      }
      field("pace", pace(data));
      bar.value = data.percent;
      const was = panel.dataset.status;
      panel.dataset.status = data.status;
      // Once it stops sending, its controls change (Pause gives way to Retry, or to none).
      if (was === "sending" && data.status !== "sending") {
        window.location.reload();
        return;
      }
    }
    if (LIVE.includes(panel.dataset.status)) window.setTimeout(refresh, EVERY_MS);
  }

  if (LIVE.includes(panel.dataset.status)) window.setTimeout(refresh, EVERY_MS);
})();
