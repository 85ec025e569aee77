// The dashboard's only script. The pages work without it (and without htmx); it adds what htmx
// attributes cannot say: busy state, focus that stays put across swaps, announcements, Escape, and
// filter forms that match the URL after Back. A Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";

  // Dismissible notices.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (button) {
      var notice = button.closest(".notice");
      if (notice) notice.remove();
    }
  });

  // Busy: the region being replaced says so while the request runs (the indicator shows it too).
  function target(event) {
    return (event.detail && event.detail.target) || event.target;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var el = target(event);
    if (el && el.setAttribute && !el.matches("[hx-trigger^='every'], [hx-trigger^='load']")) el.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var el = target(event);
    if (el && el.setAttribute && el.isConnected) el.setAttribute("aria-busy", "false");
  });

  // Focus: where the user was (same id in the new content), else a control the server marked
  // (data-autofocus), else the new content itself; what changed is announced politely.
  // Remembered on every focus change: a control disabled while its request runs loses focus.
  var focusedId = null;
  var polling = false;
  // Only controls count: a click on a disabled button focuses its container (main, tabindex=-1).
  var CONTROLS = "a[href], button, input, select, textarea, summary";
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (el && el.matches && el.matches(CONTROLS)) focusedId = el.id || null;
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail && event.detail.requestConfig && event.detail.requestConfig.elt;
    polling = !!(source && source.matches && source.matches("[hx-trigger^='every']"));
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var swapped = target(event);
    var marked = swapped && swapped.isConnected ? swapped.querySelector("[data-autofocus]") : null;
    if (!marked) marked = document.querySelector("[data-autofocus]");
    var active = document.activeElement;
    var lost = !active || active === document.body || active.id === "contenido";
    if (marked && !polling) {
      marked.removeAttribute("data-autofocus");
      marked.focus();
    } else if (focusedId && document.getElementById(focusedId) && (lost || active.id !== focusedId)) {
      if (lost) document.getElementById(focusedId).focus();
    } else if (lost && !polling && swapped && swapped.isConnected) {
      if (!swapped.hasAttribute("tabindex")) swapped.setAttribute("tabindex", "-1");
      swapped.focus();
    }
    var announce = swapped && swapped.getAttribute && swapped.getAttribute("data-announce");
    var status = swapped && swapped.querySelector ? swapped.querySelector("[role=status], [role=alert]") : null;
    var text = (status && status.textContent.trim()) || announce;
    var announcer = document.getElementById("announcer");
    if (announcer && text && !polling) {
      announcer.textContent = "";
      window.setTimeout(function () { announcer.textContent = text.replace(/\s+/g, " "); }, 50);
    }
    polling = false;
  });

  // Escape closes an open panel (the reject form) and gives focus back to what opened it.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var panel = document.activeElement && document.activeElement.closest("details[open]");
    if (!panel) panel = document.querySelector("details[open]");
    if (panel) {
      panel.open = false;
      var summary = panel.querySelector("summary");
      if (summary) summary.focus();
      event.preventDefault();
    }
  });

  // Filter forms always show what the URL says, also after Back (htmx restores a snapshot of the
  // DOM, which keeps attributes, not what was typed after it was taken).
  function syncForms() {
    var params = new URLSearchParams(window.location.search);
    document.querySelectorAll("form[data-sync-url]").forEach(function (form) {
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!field.name || field.type === "submit" || field.type === "button") return;
        if (field.type === "hidden" && !params.has(field.name)) return;
        var value = params.get(field.name) || "";
        if (field.tagName === "SELECT" && value === "" && field.options.length) {
          field.selectedIndex = 0;
        } else {
          field.value = value;
        }
      });
    });
  }
  document.addEventListener("htmx:historyRestore", syncForms);
  window.addEventListener("pageshow", function (event) { if (event.persisted) syncForms(); });
})();
