// The console's one script, served by Flows itself (no CDN).
// Timestamps in the viewer's own time zone: the server writes them in the fleet's zone with the
// UTC instant in `datetime` (and on hover); this rewrites the text where scripts run.
document.querySelectorAll("time[datetime]").forEach((element) => {
  const instant = new Date(element.getAttribute("datetime"));
  if (Number.isNaN(instant.getTime())) return;
  const options = element.hasAttribute("data-date")
    ? { day: "2-digit", month: "short", year: "numeric" }
    : { day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
        hour12: false, timeZoneName: "short" };
  element.textContent = new Intl.DateTimeFormat("en-GB", options).format(instant);
});

// Auto-refresh of the lists and the overview (a wall screen stays current), which the viewer
// can turn off (remembered in this browser): a page that reloads by itself must be stoppable.
const refresh = document.getElementById("auto-refresh");
if (refresh) {
  const seconds = Number(refresh.dataset.seconds || "60");
  refresh.checked = localStorage.getItem("flows-auto-refresh") !== "off";
  let timer = null;
  const schedule = () => {
    clearTimeout(timer);
    if (refresh.checked) timer = setTimeout(() => location.reload(), seconds * 1000);
  };
  refresh.addEventListener("change", () => {
    localStorage.setItem("flows-auto-refresh", refresh.checked ? "on" : "off");
    schedule();
  });
  schedule();
}
