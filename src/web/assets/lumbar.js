// Small enhancements only: every page works without this file.
(function () {
  "use strict";
  // Move focus to the error summary so screen readers announce it and keyboard users start there.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
  }
  // Show or hide questions that depend on an earlier answer on the same page as soon as it
  // changes (the server applies the same rule when the page is saved, and without this script
  // the page comes back with the new questions).
  var dependents = document.querySelectorAll("[data-when-question]");
  function answered(name, wanted) {
    var inputs = document.querySelectorAll('[name="' + name + '"]');
    var chosen = [];
    inputs.forEach(function (input) {
      if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) { chosen.push(input.value); }
      } else if (input.value !== "") {
        chosen.push(input.value);
      }
    });
    return { any: chosen.length > 0, matches: chosen.indexOf(wanted) >= 0, others: chosen.some(function (value) { return value !== wanted; }) };
  }
  function update() {
    dependents.forEach(function (block) {
      var found = answered(block.getAttribute("data-when-question"), block.getAttribute("data-when-value"));
      var shown = block.getAttribute("data-when-op") === "=" ? found.matches : found.others;
      block.hidden = !shown;
    });
  }
  if (dependents.length) {
    document.addEventListener("change", update);
    update();
  }
})();
