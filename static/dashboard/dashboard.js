// The dashboard's only script: dismissible notices. Everything else is htmx attributes, and the
// pages work without either (a Content-Security-Policy forbids inline scripts, hence this file).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-dismiss]");
  if (button) {
    var notice = button.closest(".notice");
    if (notice) notice.remove();
  }
});
