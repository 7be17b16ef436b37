// A table box that scrolls (a wide table on a tablet) must be reachable with the keyboard
// (WCAG 2.1.1, axe « scrollable-region-focusable »): such a box gets tabindex="0" and a
// name; one that fits the screen gets neither, so it adds no tab stop.
(function () {
  "use strict";
  function update() {
    document.querySelectorAll(".table-wrap").forEach(function (box) {
      if (box.dataset.scrollFixed) { return; }  // set in the template: leave it
      var scrolls = box.scrollWidth > box.clientWidth + 1 || box.scrollHeight > box.clientHeight + 1;
      if (scrolls && !box.querySelector("a[href], button, input, select, textarea, [tabindex]")) {
        var caption = box.querySelector("caption");
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", (caption ? caption.textContent.trim() + " — " : "") +
          "tableau, à faire défiler");
        box.dataset.scrollMade = "1";
      } else if (!scrolls && box.dataset.scrollMade) {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
        delete box.dataset.scrollMade;
      }
    });
  }
  update();
  window.addEventListener("resize", update);
})();
