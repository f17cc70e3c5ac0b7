// The history dashboard's charts (chart.js, bundled; the data is embedded by the page).
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";

Chart.register(
  BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip,
);

const data = JSON.parse(document.getElementById("dashboard-data").textContent);
const days = data.per_day.map((row) => row.day);
const accent = "#0b6bcb";

// A chart, unless the page shows its empty state instead (no canvas then).
// wholeNumbers: counts get ticks 0, 1, 2…, never 0.5.
function chart(id, type, datasets, labels = days, { wholeNumbers = false } = {}) {
  const canvas = document.getElementById(id);
  if (!canvas) return null;
  const drawn = new Chart(canvas, {
    type,
    data: { labels, datasets },
    options: {
      animation: false,
      responsive: true,
      plugins: { legend: { display: datasets.length > 1 } },
      scales: { y: { beginAtZero: true, ticks: wholeNumbers ? { precision: 0 } : {} } },
    },
  });
  // What was drawn, readable without the pixels (the browser tests check the axis).
  canvas.dataset.drawn = "true";
  canvas.dataset.yTicks = drawn.scales.y.ticks.map((tick) => tick.value).join(" ");
  return drawn;
}

chart(
  "calls-per-day",
  "bar",
  [{ label: "Calls", data: data.per_day.map((row) => row.calls), backgroundColor: accent }],
  days,
  { wholeNumbers: true },
);
chart("handle-time", "line", [
  { label: "Seconds", data: data.per_day.map((row) => row.handle_seconds), borderColor: accent },
]);
chart("handoff-rate", "line", [
  { label: "%", data: data.per_day.map((row) => row.handoff_rate), borderColor: "#a33b00" },
]);
chart(
  "latency",
  "bar",
  ["p50", "p95", "p99"].map((key, index) => ({
    label: key,
    data: data.latency.map((row) => row[key]),
    backgroundColor: ["#90caf9", accent, "#0d3c78"][index],
  })),
  data.latency.map((row) => row.name),
);
