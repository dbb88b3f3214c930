// reunite: small progressive enhancements; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // a button with data-confirm asks before it submits its form (e.g. reject, set aside)
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("click", function (event) {
      if (!window.confirm(el.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
  // a select with data-autosubmit submits its form when changed (filters)
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
  // a table wider than the page scrolls in its frame: the frame takes the keyboard focus (arrows scroll it)
  document.querySelectorAll(".table-wrap").forEach(function (el) {
    if (el.scrollWidth > el.clientWidth + 1 && !el.hasAttribute("tabindex")) {
      var caption = el.querySelector("caption"), heading = document.querySelector("h1");
      el.setAttribute("tabindex", "0");
      el.setAttribute("role", "region");
      el.setAttribute("aria-label", ((caption || heading || {}).textContent || "").trim() || "table");
    }
  });
});
