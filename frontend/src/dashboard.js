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
// format: how a value is written on the axis and in the tooltip (e.g. m:ss).
// stacked: the datasets' bars one on the other, a day's total as the bar's height.
function chart(
  id, type, datasets, labels = days, { wholeNumbers = false, format = null, stacked = false } = {},
) {
  const canvas = document.getElementById(id);
  if (!canvas) return null;
  const ticks = wholeNumbers ? { precision: 0 } : {};
  if (format) ticks.callback = (value) => format(value);
  const tooltip = format ? { callbacks: { label: (item) => format(item.parsed.y) } } : {};
  const drawn = new Chart(canvas, {
    type,
    data: { labels, datasets },
    options: {
      animation: false,
      responsive: true,
      plugins: { legend: { display: datasets.length > 1 }, tooltip },
      scales: { x: { stacked }, y: { beginAtZero: true, ticks, stacked } },
    },
  });
  // What was drawn, readable without the pixels (the browser tests check the axis).
  canvas.dataset.drawn = "true";
  canvas.dataset.yTicks = drawn.scales.y.ticks
    .map((tick) => (format ? format(tick.value) : tick.value))
    .join(" ");
  return drawn;
}

// Durations as the cards write them (callcenter/templatetags/call_format.py, clock): 2:05.
function clock(seconds) {
  const whole = Math.max(0, Math.round(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = String(whole % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

// The customers' own calls apart from those the desk placed (callbacks, campaigns), stacked.
const origins = [
  ["inbound", "Customers' calls", accent],
  ["callback", "Callbacks", "#90caf9"],
  ["campaign", "Campaign calls", "#a33b00"],
];
chart(
  "calls-per-day",
  "bar",
  origins.map(([key, label, color]) => ({
    label,
    data: data.per_day.map((row) => row[key]),
    backgroundColor: color,
  })),
  days,
  { wholeNumbers: true, stacked: true },
);
chart(
  "handle-time",
  "line",
  [{ label: "Handle time", data: data.per_day.map((row) => row.handle_seconds), borderColor: accent }],
  days,
  { format: clock },
);
// Handoffs to the desk: taken, hung up waiting, left for a callback, stacked per day.
if (data.desk) {
  const handoffDays = data.desk.per_day.map((row) => row.day);
  chart(
    "handoffs-per-day",
    "bar",
    [
      ["answered", "Taken by the desk", accent],
      ["abandoned", "Hung up waiting", "#a33b00"],
      ["callbacks", "Left for a callback", "#90caf9"],
    ].map(([key, label, color]) => ({
      label,
      data: data.desk.per_day.map((row) => row[key]),
      backgroundColor: color,
    })),
    handoffDays,
    { wholeNumbers: true, stacked: true },
  );
}
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
