/* authgate: "Copy" buttons, loaded as a file (the pages allow no inline script).
   <button type="button" hidden data-copy="ID" data-copied="Copied." data-status="ID2">
   copies the value of the field #ID and says so in the live region #ID2. Without
   this script (or without a clipboard) the button stays hidden: the field is
   read-only and selected when focused, ready to copy by hand. */
(function () {
  "use strict";
  function ready() {
    var buttons = document.querySelectorAll("button[data-copy]");
    Array.prototype.forEach.call(buttons, function (button) {
      var field = document.getElementById(button.getAttribute("data-copy"));
      if (!field) return;
      var status = document.getElementById(button.getAttribute("data-status") || "");
      field.addEventListener("focus", function () { field.select(); });
      if (!navigator.clipboard || !window.isSecureContext) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(field.value).then(function () {
          if (status) status.textContent = button.getAttribute("data-copied") || "";
        }, function () {
          field.focus();
          field.select();
        });
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
