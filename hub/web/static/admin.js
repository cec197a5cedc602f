// omnihub admin: confirmations and the contact merge (through the REST API with the CSRF header).
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  // the webhook URLs of a new connector follow its name as it is typed
  var nameInput = document.querySelector('#connector-form input[name="name"]');
  if (nameInput) {
    var showHooks = function () {
      var name = nameInput.value.trim();
      var valid = /^[a-z0-9][a-z0-9_-]{0,63}$/.test(name);
      document.querySelectorAll("#webhook-urls code[data-hook]").forEach(function (code) {
        code.textContent = code.dataset.base + (valid ? name : "<name>") + "/" + code.dataset.hook;
      });
    };
    nameInput.addEventListener("input", showHooks);
    showHooks();
  }
  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    var submitter = ev.submitter;
    if (f.id === "connector-form" && submitter && submitter.value === "check") {
      // check in place: what was typed (secrets included) stays in the form
      ev.preventDefault();
      var data = new FormData(f);
      data.set("action", "check");
      var out = document.getElementById("check-result");
      out.textContent = "Checking…"; out.className = "check-result";
      submitter.disabled = true;
      fetch(f.getAttribute("action") || window.location.href, {
        method: "POST", credentials: "same-origin", body: data,
        headers: { "Accept": "application/json", "X-CSRF-Token": csrf }
      }).then(function (r) { return r.json(); }).then(function (res) {
        out.textContent = "Check " + (res.ok ? "passed" : "failed") + ": " + res.summary;
        out.className = "check-result flash " + (res.ok ? "ok" : "bad");
        // the result sits above the form: bring it into view (the button may be far below)
        out.setAttribute("tabindex", "-1");
        out.scrollIntoView({ block: "center" });
        out.focus({ preventScroll: true });
      }).catch(function (e) {
        out.textContent = "Check failed: " + e.message; out.className = "check-result flash bad";
      }).then(function () { submitter.disabled = false; });
      return;
    }
    if (f.dataset.confirm && !window.confirm(f.dataset.confirm)) { ev.preventDefault(); return; }
    if (f.hasAttribute("data-merge")) {
      ev.preventDefault();
      var keep = f.elements.keep.value, other = f.elements.other.value;
      var out = document.getElementById("merge-result");
      fetch("/api/v1/contacts/" + encodeURIComponent(keep) + "/merge", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ other_id: parseInt(other, 10) })
      }).then(function (r) { return r.json().then(function (d) { return [r.ok, d]; }); })
        .then(function (res) {
          if (!res[0]) { out.textContent = "Merge failed: " + (res[1].error || "error"); out.className = "flash bad"; return; }
          out.textContent = "Merged: contact " + res[1].id + " now has " + res[1].identities.length + " identities and " + res[1].conversations.length + " conversations.";
          out.className = "flash ok";
        });
    }
  });
})();
