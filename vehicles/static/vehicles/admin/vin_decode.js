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

  // Each line a paragraph; warnings in the admin's error style.
  function line(text, warning = false) {
    const paragraph = document.createElement("p");
    paragraph.textContent = text;
    if (warning) paragraph.className = "errornote vin-warning";
    return paragraph;
  }

  async function decode() {
    const typed = vin.value.replace(/[\s-]/g, "");
    if (!typed) return output.replaceChildren();
    if (typed.length < 17) return output.replaceChildren(line(`${typed.length} of 17 characters typed.`));
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
    if (!response.ok) return output.replaceChildren(line(body.error || "This is not a VIN.", true));
    output.replaceChildren(
      line(`The VIN says: ${body.says}.`),
      ...body.warnings.map((text) => line(text, true)),
    );
  }

  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(decode, 250);
  };
  for (const field of [vin, make, year]) field?.addEventListener("input", later);
  // A form sent back with an error on the VIN already says it once; the hint waits for a
  // change instead of saying it again.
  const refused = vin.closest(".form-row")?.querySelector(".errorlist");
  if (!refused) decode();
});
