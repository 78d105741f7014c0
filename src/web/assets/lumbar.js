// Small enhancements only: every page works without this file.
(function () {
  "use strict";
  // Move focus to the error summary so screen readers announce it and keyboard users start there.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
  }
  // Show or hide questions that depend on an earlier answer as soon as it changes (the server
  // applies the same rule when the form is saved).
  var dependents = document.querySelectorAll("[data-enable-when]");
  function update() {
    dependents.forEach(function (block) {
      var rule = block.getAttribute("data-enable-when").split("=");
      var question = rule[0];
      var wanted = rule.slice(1).join("=");
      var inputs = document.querySelectorAll('[name="' + question + '"]');
      var shown = false;
      inputs.forEach(function (input) {
        if ((input.type === "radio" || input.type === "checkbox") ? input.checked && input.value === wanted
            : input.value === wanted) {
          shown = true;
        }
      });
      block.hidden = !shown;
    });
  }
  if (dependents.length) {
    document.addEventListener("change", update);
    update();
  }
})();
