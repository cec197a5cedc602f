// omnihub header: the agent's status (online / away / offline; docs/teams.md).
// Online agents get conversations assigned automatically; Alt+Shift+O / A / F switch.
(function () {
  "use strict";
  var sel = document.getElementById("agent-status");
  if (!sel) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var box = sel.closest(".agent-status");
  var toast = document.getElementById("toast");
  var current = sel.value;

  function say(msg, bad) {
    if (!toast) return;
    toast.textContent = msg;
    toast.className = bad ? "show bad" : "show";
    clearTimeout(say.t);
    say.t = setTimeout(function () { toast.className = ""; }, 4000);
  }

  function setStatus(value) {
    fetch("/api/v1/agents/me/status", {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify({ status: value })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
        current = data.status;
        sel.value = current;
        box.dataset.status = current;
        say("You are " + current + (current === "online" ? ": new conversations will be assigned to you" : ""));
      });
    }).catch(function (e) { sel.value = current; say(e.message, true); });
  }

  sel.addEventListener("change", function () { setStatus(sel.value); });
  document.addEventListener("keydown", function (ev) {
    if (!ev.altKey || !ev.shiftKey || ev.ctrlKey || ev.metaKey) return;
    var map = { KeyO: "online", KeyA: "away", KeyF: "offline" };
    var value = map[ev.code];
    if (!value) return;
    ev.preventDefault();
    setStatus(value);
  });
})();
