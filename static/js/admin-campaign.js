// The campaign page, kept true while the campaign is live: every second or few it asks the
// server for the status, the steps possible now, the counts and the sending plan (its waves,
// each provider's progress and pace). Buttons for steps that are no
// longer possible are hidden at once; when the status changes the page is loaded again, so
// the form, the results and the history follow.
(function () {
  "use strict";
  const panel = document.querySelector("[data-campaign-progress]");
  if (!panel) return;
  const LIVE = ["scheduled", "sending", "paused"];
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

  function offer(actions) {
    for (const control of document.querySelectorAll("[data-step]")) {
      control.hidden = !actions.includes(control.dataset.step);
    }
  }

  // A scheduled campaign starts at the dispatcher's next run: watch it closely.
  function every(status) {
    return status === "scheduled" ? 1000 : 3000;
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
      for (const name of ["sent", "failed", "skipped", "queued", "sending", "total", "percent", "status_label", "counted"]) {
        field(name, data[name]);
      }
      field("pace", pace(data));
      // Sections the server renders again for each poll (the plan, a wave's invitations).
      for (const section of document.querySelectorAll("[data-live]")) {
        const html = data[section.dataset.live];
        if (html !== undefined && section.dataset.html !== html) {
          section.dataset.html = html;
          section.innerHTML = html;
        }
      }
      if (bar) bar.value = data.percent;
      offer(data.actions);
      if (data.status !== panel.dataset.status) {
        panel.dataset.status = data.status;
        window.location.reload();
        return;
      }
    }
    if (LIVE.includes(panel.dataset.status)) window.setTimeout(refresh, every(panel.dataset.status));
  }

  if (LIVE.includes(panel.dataset.status)) window.setTimeout(refresh, every(panel.dataset.status));
})();
