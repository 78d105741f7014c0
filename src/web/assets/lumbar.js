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
  // The review queue looks for new cases by itself: it reads this page again and swaps the
  // list in place, so a new emergency shows without a reload; the status line above it is a
  // live region, read out when the count changes. A button pauses it (WCAG 2.2.2). Without
  // scripts, the page's "Check for new cases" link does it by hand.
  var status = document.getElementById("queue-status");
  var list = document.getElementById("queue-list");
  var controls = document.getElementById("queue-controls");
  if (status && list && controls && window.fetch && window.DOMParser) {
    var seconds = parseInt(status.getAttribute("data-refresh"), 10) || 30;
    var paused = false;
    var toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "secondary";
    function label() {
      toggle.textContent = paused ? "Check for new cases by itself again" : "Stop checking for new cases";
    }
    toggle.addEventListener("click", function () { paused = !paused; label(); });
    label();
    controls.innerHTML = "";
    var note = document.createElement("p");
    note.className = "hint";
    note.textContent = "This page checks for new cases every " + seconds + " seconds.";
    controls.appendChild(note);
    controls.appendChild(toggle);
    setInterval(function () {
      if (paused) { return; }
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var freshList = page.getElementById("queue-list");
          var freshStatus = page.getElementById("queue-status");
          // Signed out meanwhile, or an error page: keep what is shown.
          if (!freshList || !freshStatus) { return; }
          if (freshList.innerHTML !== list.innerHTML) { list.innerHTML = freshList.innerHTML; }
          if (freshStatus.textContent !== status.textContent) { status.textContent = freshStatus.textContent; }
        })
        .catch(function () { /* offline for a moment: the next check tries again */ });
    }, seconds * 1000);
  }
})();
