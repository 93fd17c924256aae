// Show <time datetime="…"> values in the reader's own time zone (the server renders UTC).
const pad = (n) => String(n).padStart(2, "0");

export function localizeTimes(root = document) {
  for (const node of root.querySelectorAll("time[datetime]")) {
    const moment = new Date(node.getAttribute("datetime"));
    if (Number.isNaN(moment.getTime())) continue;
    node.textContent = `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())} ${pad(moment.getHours())}:${pad(moment.getMinutes())}`;
  }
}

localizeTimes();
