// The vehicle form in the admin: what the VIN says appears next to it as it is typed, and a
// make or model year that contradicts the VIN is flagged before saving (the form still lets
// the user confirm with "Save anyway"; see VehicleForm).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const vin = document.getElementById("id_vin");
  if (!vin || !vin.dataset.decodeUrl) return;
  const make = document.getElementById("id_make");
  const year = document.getElementById("id_year");
  const output = document.createElement("div");
  output.id = "vin-decoded";
  output.className = "help vin-decoded";
  output.setAttribute("aria-live", "polite");
  vin.after(output);
  vin.setAttribute("aria-describedby", output.id);

  let timer = null;
  let asked = 0;

  function show(lines, warn) {
    output.replaceChildren(
      ...lines.map((text) => {
        const line = document.createElement("p");
        line.textContent = text;
        if (warn) line.className = "errornote vin-warning";
        return line;
      }),
    );
  }

  async function decode() {
    const typed = vin.value.replace(/[\s-]/g, "");
    if (!typed) return show([]);
    if (typed.length < 17) return show([`${typed.length} of 17 characters typed.`]);
    const query = new URLSearchParams({
      vin: vin.value,
      make: make ? make.value : "",
      year: year ? year.value : "",
    });
    const mine = ++asked;
    const response = await fetch(`${vin.dataset.decodeUrl}?${query}`, {
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (mine !== asked) return; // a later keystroke asked again
    if (!response.ok) return show([body.error || "This is not a VIN."], true);
    show([`The VIN says: ${body.says}.`]);
    if (body.warnings.length) {
      output.append(
        ...body.warnings.map((text) => {
          const line = document.createElement("p");
          line.className = "errornote vin-warning";
          line.textContent = text;
          return line;
        }),
      );
    }
  }

  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(decode, 250);
  };
  for (const field of [vin, make, year]) field?.addEventListener("input", later);
  decode();
});
