// The review screens' keyboard and the few behaviours htmx does not give: no inline scripts (the CSP
// refuses them), and every key only clicks a real link or button, so nothing here can do what a
// click could not.
(function () {
  "use strict";

  // j/k/m/n/s press the element with that id; the server does the rest.
  var KEYS = { j: "next-pair", k: "previous-pair", m: "merge-button", n: "reject-button", s: "skip-button" };

  // Keys typed into a text field are text; a ticked checkbox or radio keeps the keys working.
  var NOT_TYPING = { checkbox: true, radio: true, button: true, submit: true, reset: true };

  function typingInField(target) {
    if (!target || !target.closest) return false;
    if (target.tagName === "INPUT") return !NOT_TYPING[(target.type || "").toLowerCase()];
    return !!target.closest("textarea, select, [contenteditable=''], [contenteditable='true']");
  }

  // True from the moment a decision or a move to another pair is sent until the next pair is in
  // place and its URL recorded. A key in between is ignored: a second decision must not be sent,
  // and a link clicked before htmx records the URL would have its navigation cancelled by it.
  // (The preview loading does not count: j/k/n/s work while it loads.)
  var moving = false;
  // Keys are refused while the pair is being replaced (a key meant for this pair must never act on
  // the next one); <html data-review-keys="ready"> says when they are taken again.
  function setMoving(value) {
    moving = value;
    document.documentElement.dataset.reviewKeys = value ? "busy" : "ready";
  }
  setMoving(false);

  function busy() {
    return moving || !!document.querySelector("form.htmx-request, .pair-nav a.htmx-request");
  }

  function replacesThePair(event) {
    var target = event.detail && event.detail.target;
    return !!target && (target.id === "review-pair" || target.id === "cluster-review");
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (replacesThePair(event)) setMoving(true);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (replacesThePair(event) && !event.detail.successful) setMoving(false);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    // htmx records the URL right after this event, in the same turn: free the keys after it.
    if (replacesThePair(event)) window.setTimeout(function () { setMoving(false); }, 0);
  });
  ["htmx:sendError", "htmx:responseError", "htmx:swapError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, function () { setMoving(false); });
  });

  function toggleHelp() {
    var help = document.getElementById("keyboard-help");
    if (!help) return;
    if (help.open) help.close(); else help.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (typingInField(event.target)) return;
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    var id = KEYS[event.key];
    if (!id) return;
    var help = document.getElementById("keyboard-help");
    if (help && help.open) return;
    var element = document.getElementById(id);
    if (element && element.disabled && id === "merge-button") {
      // Merge waits for the risks' confirmation: take the reviewer there (Space ticks it, m merges).
      var confirm = document.getElementById("confirm-risks");
      if (confirm) { event.preventDefault(); confirm.focus(); }
      return;
    }
    if (!element || element.disabled || busy()) return;
    event.preventDefault();
    element.click();
  });

  document.addEventListener("click", function (event) {
    if (event.target && event.target.id === "show-keys") toggleHelp();
  });

  // "Merge" stays disabled while a risk is shown and its confirmation is not ticked. Without
  // JavaScript the button stays enabled and the server refuses an unconfirmed risky merge.
  function syncMergeButtons(root) {
    var forms = (root.matches && root.matches("[data-merge-form]")) ? [root] : root.querySelectorAll("[data-merge-form]");
    Array.prototype.forEach.call(forms, function (form) {
      var button = form.querySelector("#merge-button, [data-merge-button]");
      var confirm = form.querySelector("input[name=confirm_risks]");
      if (!button) return;
      var risky = !!form.querySelector("[data-risk]");
      button.disabled = risky && !(confirm && confirm.checked);
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "confirm_risks") {
      var form = event.target.closest("[data-merge-form]");
      if (form) syncMergeButtons(form);
    }
  });

  // htmx leaves 4xx/5xx answers unswapped by default; ours are fragments that say what went wrong
  // (bad input 400, a stale preview or a decided pair 409, a CRM failure 502), so show them.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 409 || status === 502) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function ready() {
    syncMergeButtons(document);
    if (window.htmx) {
      window.htmx.onLoad(function (element) {
        // A fragment loaded inside a merge form (a cluster member's preview) changes that form.
        var form = element.closest ? element.closest("[data-merge-form]") : null;
        syncMergeButtons(form || element);
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
