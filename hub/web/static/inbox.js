// omnihub inbox: live list (SSE), conversation actions, composer limits, keyboard shortcuts.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var root = document.querySelector(".inbox");
  if (!root) return;
  var toast = document.getElementById("toast");

  function say(msg, bad) {
    toast.textContent = msg;
    toast.className = bad ? "show bad" : "show";
    clearTimeout(say.t);
    say.t = setTimeout(function () { toast.className = ""; }, 4000);
  }

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
        return data;
      });
    });
  }

  // ------------------------------------------------- sealed values: one-click reveal (logged)
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button.reveal-sealed") : null;
    if (!b) return;
    ev.preventDefault();
    api("POST", b.dataset.url).then(function (data) {
      var code = document.createElement("code");
      code.className = "revealed";
      code.textContent = data.value;
      b.replaceWith(code);
    }).catch(function (e) { say(e.message, true); });
  });

  // ------------------------------------------------- tab title, notifications, sound
  var baseTitle = document.title;
  function pref(name) { try { return localStorage.getItem("omnihub:" + name) === "on"; } catch (e) { return false; } }
  function setPref(name, on) { try { localStorage.setItem("omnihub:" + name, on ? "on" : "off"); } catch (e) { /* ignore */ } }
  function setTitle(n) { document.title = (n > 0 ? "(" + n + ") " : "") + baseTitle; }
  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.08;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.15);
    } catch (e) { /* no audio */ }
  }
  function alertOnUnread(n) { setTitle(n); }
  // what to tell this agent (server-side, /inbox/notifications): a new conversation in the view
  // they are on, a new customer message in a conversation assigned to them, an assignment to
  // them by someone else — never their own actions, never message text
  var notesUrl = root.dataset.notifications, notesCursor = null, notesBusy = false;
  function checkNotifications() {
    if (!notesUrl || notesBusy) return;
    notesBusy = true;
    var params = new URLSearchParams(window.location.search);
    params.delete("after");
    if (notesCursor) params.set("since", notesCursor);
    fetch(notesUrl + "?" + params.toString(), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d) return;
        var first = notesCursor === null;
        notesCursor = d.cursor;
        if (first || !(d.items || []).length) return;
        if (pref("notify") && window.Notification && Notification.permission === "granted") {
          d.items.forEach(function (it) {
            try {
              var n = new Notification(it.title, { body: it.body, tag: "omnihub-" + it.kind + "-" + it.conversation });
              n.onclick = function () { window.focus(); window.location.href = it.url; };
            } catch (e) { /* ignore */ }
          });
        }
        if (pref("sound")) beep();
      })
      .catch(function () { /* next change tries again */ })
      .then(function () { notesBusy = false; });
  }
  checkNotifications();
  var notifyBtn = document.getElementById("notify-toggle");
  function showNotifyState() {
    if (!notifyBtn) return;
    var on = pref("notify") && window.Notification && Notification.permission === "granted";
    notifyBtn.textContent = "Desktop notifications: " + (on ? "on" : "off");
    notifyBtn.setAttribute("aria-pressed", on ? "true" : "false");
  }
  if (notifyBtn) {
    if (!window.Notification) { notifyBtn.disabled = true; notifyBtn.title = "This browser has no desktop notifications"; }
    notifyBtn.addEventListener("click", function () {
      if (pref("notify")) { setPref("notify", false); showNotifyState(); return; }
      Notification.requestPermission().then(function (p) {
        setPref("notify", p === "granted");
        if (p !== "granted") say("Notifications are blocked in this browser's site settings", true);
        showNotifyState();
      });
    });
    showNotifyState();
  }
  var soundBox = document.getElementById("sound-toggle");
  if (soundBox) {
    soundBox.checked = pref("sound");
    soundBox.addEventListener("change", function () { setPref("sound", soundBox.checked); if (soundBox.checked) beep(); });
  }
  (function () {
    var b = document.getElementById("total-unread");
    alertOnUnread(parseInt((b && b.textContent) || "0", 10) || 0);
  })();

  // ---------------------------------------------------------------- list refresh
  var listBox = document.getElementById("conv-list");
  function currentId() { return parseInt(root.dataset.conv || "0", 10) || 0; }
  function refreshList() {
    var url = root.dataset.list + window.location.search;
    url += (url.indexOf("?") < 0 ? "?" : "&") + "current=" + currentId();
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) return;
      var unread = r.headers.get("X-Unread");
      alertOnUnread(parseInt(unread || "0", 10) || 0);
      return r.text().then(function (html) {
        var selected = document.querySelector(".convs li.selected");
        var selId = selected ? selected.dataset.id : null;
        listBox.innerHTML = html;
        if (selId) { var el = document.getElementById("conv-" + selId); if (el) el.classList.add("selected"); }
        var badge = document.getElementById("total-unread");
        if (badge) badge.textContent = unread && unread !== "0" ? unread : "";
      });
    });
  }

  // ------------------------------------------------------------ timeline refresh
  function conversationEl() { return document.getElementById("conversation"); }
  function refreshTimeline(force) {
    var c = conversationEl();
    if (!c) return Promise.resolve();
    return fetch(c.dataset.fragment, { credentials: "same-origin" }).then(function (r) {
      if (r.status === 404) { conversationGone(c); return; }
      if (!r.ok) return;
      return r.text().then(function (html) {
        var tl = document.getElementById("timeline");
        var atBottom = tl.scrollTop + tl.clientHeight >= tl.scrollHeight - 40;
        tl.innerHTML = html;
        refreshHead(force);
        if (atBottom) tl.scrollTop = tl.scrollHeight;
      });
    });
  }

  // the open conversation no longer exists (its contact was erased, or retention removed it):
  // the pane says so instead of showing the erased customer until a reload
  function conversationGone(c) {
    var gone = document.createElement("article");
    gone.className = "conversation gone";
    gone.id = "conversation-gone";
    var p = document.createElement("p");
    p.setAttribute("role", "status");
    p.textContent = "Conversation #" + (c.dataset.id || "") + " no longer exists: its contact's data was erased " +
      "(or a retention policy removed it).";
    gone.appendChild(p);
    c.replaceWith(gone);
    baseTitle = "Inbox \u00b7 omnihub";  // the title named the customer too
    document.title = baseTitle;
    root.dataset.conv = "";
    if (window.history && window.history.replaceState) window.history.replaceState(null, "", root.dataset.home || "/inbox" + window.location.search);
    refreshList();
  }

  // ------------------------------------------------------------- header refresh
  // each timeline fragment carries the header as it is now (_conv_meta.html in a <template>):
  // someone else's assignment, team or status change shows without a reload; a control the
  // agent is using (focused) is left alone
  function syncSelect(id, value, emptyLabel, force) {
    var sel = document.getElementById(id);
    if (!sel || (document.activeElement === sel && !force)) return;
    if (value && !Array.prototype.some.call(sel.options, function (o) { return o.value === value; })) {
      var o = document.createElement("option");
      o.value = value; o.textContent = value;
      sel.appendChild(o);
    }
    sel.value = value || "";
    if (emptyLabel && sel.options.length) sel.options[0].textContent = emptyLabel;
  }
  function refreshHead(force) {
    var tpl = document.getElementById("conv-head-next");
    var cur = document.getElementById("conv-meta");
    if (!tpl || !cur || !tpl.content) return;
    var next = tpl.content.querySelector("#conv-meta");
    if (!next) return;
    next = document.importNode(next, true);
    cur.replaceWith(next);
    var d = next.dataset;
    syncSelect("assign", d.assignee, d.assignee ? "Unassign" : "Assign to\u2026", force);
    syncSelect("team", d.team, d.team ? "No team" : "Team\u2026", force);
    syncSelect("priority", d.priority, null, force);
    syncSelect("category", d.category, null, force);
    syncSelect("language", d.languageConfirmed ? d.language : "",
               d.languageSource === "confirmed" ? "Use detection"
                 : "Language: " + (d.language || "unknown") + (d.languageSource === "contact" ? " (the contact's)" : " (detected)"), force);
    syncStatusButton(d.status);
  }
  // the Resolve / Reopen button follows the conversation's status
  function syncStatusButton(status) {
    var sb = document.querySelector('button[data-action="status"]');
    var finished = status === "resolved" || status === "closed";
    if (sb) {
      sb.dataset.value = finished ? "open" : "resolved";
      sb.textContent = finished ? "Reopen" : "Resolve";
      if (finished) sb.removeAttribute("id"); else sb.id = "resolve-btn";
    }
  }
  // who the agent sees as the assignee: sent with each assignment change, so that if someone
  // else took the conversation meanwhile the server refuses (409 naming them) instead of
  // silently overwriting their claim
  function seenAssignee() {
    var m = document.getElementById("conv-meta");
    return m ? (m.dataset.assignee || "") : "";
  }

  // ---------------------------------------------------------------- live updates
  // the agent's own actions change the conversation too: no "updated" notice for those
  var ownUntil = 0;
  function ownAction() { ownUntil = Date.now() + 4000; }
  if (window.EventSource) {
    var es = new EventSource(root.dataset.events);
    // "Customer is typing…" in the open conversation (hidden again OMNIHUB_TYPING_SECONDS, sent
    // with the event as ttl, after the last signal)
    var typingTimer = null;
    es.addEventListener("typing", function (ev) {
      var data = {};
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      var el = document.getElementById("typing-indicator");
      if (!el) return;
      var on = currentId() && (data.conversations || []).indexOf(currentId()) >= 0;
      clearTimeout(typingTimer);
      el.textContent = on ? ((document.getElementById("composer") || {dataset: {}}).dataset.customer || "The customer") + " is typing…" : "";
      if (on) typingTimer = setTimeout(function () { el.textContent = ""; }, (data.ttl || 6) * 1000);
    });
    es.addEventListener("change", function (ev) {
      var data = {};
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      refreshList();
      checkNotifications();
      if (currentId() && (data.conversations || []).indexOf(currentId()) >= 0) {
        refreshTimeline();
        if (Date.now() > ownUntil) say("This conversation was updated");  // the toast is a polite live region
      }
    });
  }

  // ---------------------------------------------------------------------- actions
  function patch(body, done) {
    var c = conversationEl();
    if (!c) return;
    ownAction();
    if (body.assignee !== undefined && body.if_assignee === undefined) body.if_assignee = seenAssignee();
    // in place: the page (and the composer's draft) stays; the header, timeline and list refresh
    api("PATCH", c.dataset.api, body).then(function (conv) {
      say(done);
      if (conv && body.assignee !== undefined) {
        var sel = document.getElementById("assign");
        if (sel) sel.value = conv.assignee || "";
      }
      if (conv && body.team !== undefined) {
        var tsel = document.getElementById("team");
        if (tsel) tsel.value = conv.team || "";
      }
      if (conv && conv.status) {
        var st = document.getElementById("conv-status");
        if (st) { st.textContent = conv.status; st.className = "status st-" + conv.status; }
        syncStatusButton(conv.status);
      }
      refreshTimeline(true); refreshList();
    }).catch(function (e) {
      // e.g. 409 "conversation 12 is already assigned to bo@example.com": say so, show the truth
      say(e.message, true);
      refreshTimeline(true); refreshList();
    });
  }
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-action]");
    if (b) {
      if (b.dataset.action === "assign") patch({ assignee: b.dataset.value }, b.dataset.value ? "Assigned to you" : "Unassigned");
      if (b.dataset.action === "status") patch({ status: b.dataset.value }, "Marked " + b.dataset.value);
      return;
    }
    var retry = ev.target.closest("button[data-retry]");
    if (retry) {
      retry.disabled = true;
      api("POST", "/api/v1/replies/" + retry.dataset.retry + "/retry").then(function () {
        say("Sending again"); refreshTimeline();
      }).catch(function (e) { retry.disabled = false; say(e.message, true); });
    }
  });
  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t.id === "snooze" && t.value) {
      var until = new Date(Date.now() + parseInt(t.value, 10) * 3600 * 1000).toISOString();
      patch({ snoozed_until: until }, "Snoozed");
    } else if (t.id === "attach") {
      var n = t.files ? t.files.length : 0;
      document.getElementById("attach-count").textContent = n ? n + (n === 1 ? " file" : " files") : "Attach files";
    } else if (t.id === "assign") {
      patch({ assignee: t.value }, t.value ? "Assigned to " + t.value : "Unassigned");
    } else if (t.id === "team") {
      patch({ team: t.value }, t.value ? "Moved to team " + t.value : "Removed from its team");
    } else if (t.id === "priority") {
      patch({ priority: t.value }, "Priority " + t.value);
    } else if (t.id === "category" && t.value) {
      patch({ category: t.value }, "Category " + t.options[t.selectedIndex].text);
    } else if (t.id === "language") {
      patch({ language: t.value || null }, t.value ? "Language set to " + t.options[t.selectedIndex].text : "Language: detected");
    } else if (t.id === "contact-language") {
      ownAction();
      api("PATCH", t.dataset.api, { language: t.value || null }).then(function () {
        say(t.value ? "Contact's language set to " + t.options[t.selectedIndex].text : "Contact's language: detected");
        refreshTimeline(true);
      }).catch(function (e) { say(e.message, true); });
    } else if (t.id === "canned" && t.value) {
      var ta = document.getElementById("reply-text");
      var name = (document.getElementById("composer").dataset.customer || "").split(" ")[0] || "there";
      ta.value = (ta.value ? ta.value + "\n" : "") + t.value.replace(/\{name\}/g, name);
      t.value = "";
      ta.focus(); updateCounter(); saveDraft();
    } else if (t.name === "mode" || t.id === "as-thread") {
      updateCounter();
    }
  });

  // --------------------------------------------------------------------- composer
  var GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXT = "^{}\\[~]|€";
  // GSM-7: 160 septets in one SMS, 153 per part when split; UCS-2: 70, 67 per part.
  function smsInfo(text) {
    var septets = 0, gsm = true;
    for (var i = 0; i < text.length; i++) {
      var ch = text.charAt(i);
      if (GSM.indexOf(ch) >= 0) septets += 1;
      else if (GSM_EXT.indexOf(ch) >= 0) septets += 2;
      else { gsm = false; break; }
    }
    if (gsm) return { enc: "GSM-7", units: septets, parts: septets <= 160 ? 1 : Math.ceil(septets / 153) };
    var units = 0;
    for (var j = 0; j < text.length; j++) units += 1; // UTF-16 code units, as UCS-2 counts them
    return { enc: "UCS-2", units: units, parts: units <= 70 ? 1 : Math.ceil(units / 67) };
  }
  window.omnihubSmsInfo = smsInfo;
  function readFile(file) {
    return new Promise(function (resolve, reject) {
      var r = new FileReader();
      r.onload = function () {
        resolve({ filename: file.name, content_type: file.type || "application/octet-stream", data_base64: String(r.result).split(",", 2)[1] || "" });
      };
      r.onerror = function () { reject(new Error("cannot read " + file.name)); };
      r.readAsDataURL(file);
    });
  }
  var form = document.getElementById("composer");
  var counter = document.getElementById("counter");
  function mode() { var m = form && form.querySelector('input[name="mode"]:checked'); return m ? m.value : "reply"; }
  function updateCounter() {
    if (!form) return;
    var ta = document.getElementById("reply-text");
    var text = ta.value, note = mode() === "note";
    var max = parseInt(form.dataset.max || "0", 10);
    var len = Array.from(text).length;
    var parts = [];
    var over = false;
    if (!note && form.dataset.segments === "sms") {
      var s = smsInfo(text);
      parts.push(s.enc + " · " + s.units + " chars · " + s.parts + " SMS");
    }
    var thread = document.getElementById("as-thread");
    if (!note && max && form.dataset.splits === "true") {
      parts.push(len + " / " + max + " per message" + (len > max ? " · " + Math.ceil(len / max) + " messages" : ""));
    } else if (!note && max) {
      parts.push(len + " / " + max);
      over = len > max && !(thread && thread.checked);
    } else {
      parts.push(len + " chars");
    }
    counter.textContent = parts.join(" · ");
    counter.className = over ? "over" : "";
    var closed = !note && form.dataset.windowOpen === "false";
    document.getElementById("send-btn").textContent = note ? "Add note" : "Send";
    ta.setAttribute("aria-invalid", over ? "true" : "false");
    form.classList.toggle("note-mode", note);
    form.classList.toggle("window-closed", closed);
  }
  // drafts: kept per agent and conversation in this browser until sent
  var draftKey = form && form.dataset.draftKey;
  function saveDraft() {
    if (!draftKey) return;
    try {
      var v = document.getElementById("reply-text").value;
      if (v.trim()) localStorage.setItem(draftKey, v); else localStorage.removeItem(draftKey);
    } catch (e) { /* storage full or disabled: the draft lives only in the page */ }
  }
  function clearDraft() { try { if (draftKey) localStorage.removeItem(draftKey); } catch (e) { /* ignore */ } }
  if (form) {
    var ta = document.getElementById("reply-text");
    try {
      var kept = draftKey && localStorage.getItem(draftKey);
      if (kept && !ta.value) { ta.value = kept; say("Draft restored"); }
    } catch (e) { /* ignore */ }
    ta.addEventListener("input", updateCounter);
    ta.addEventListener("input", saveDraft);
    // the customer's widget shows "Support is typing…": the fact only, never the draft; not for notes
    var lastTyping = 0;
    ta.addEventListener("input", function () {
      if (mode() === "note" || !ta.value.trim() || Date.now() - lastTyping < 3000 || !form.dataset.typingUrl) return;
      lastTyping = Date.now();
      fetch(form.dataset.typingUrl, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
        .catch(function () { /* best effort */ });
    });
    ta.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); form.requestSubmit(); }
      if (ev.key === "Escape") { ta.blur(); }
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = ta.value.trim();
      if (!text) return;
      var note = mode() === "note";
      var max = parseInt(form.dataset.max || "0", 10);
      var thread = document.getElementById("as-thread");
      var options = thread && thread.checked ? { thread: true } : {};
      if (!note && max && form.dataset.splits !== "true" && !options.thread && Array.from(text).length > max) {
        say("Too long for this channel (" + max + " characters)", true); return;
      }
      var btn = document.getElementById("send-btn");
      btn.disabled = true;
      var files = Array.prototype.slice.call(document.getElementById("attach").files || []);
      Promise.all(files.map(readFile)).then(function (attachments) {
        return api("POST", conversationEl().dataset.api + "/replies", { text: text, internal: note, options: options, attachments: attachments });
      }).then(function (res) {
        ownAction();
        clearDraft();
        ta.value = ""; document.getElementById("attach").value = ""; document.getElementById("attach-count").textContent = "Attach files"; updateCounter();
        say(note ? "Note added" : "Reply queued (" + res.state + ")");
        return refreshTimeline();
      }).catch(function (e) { say(e.message, true); }).then(function () { btn.disabled = false; });
    });
    updateCounter();
    var tl = document.getElementById("timeline");
    tl.scrollTop = tl.scrollHeight;
  }

  // ------------------------------------------------------------ keyboard shortcuts
  function items() { return Array.prototype.slice.call(document.querySelectorAll(".convs li[data-id]")); }
  function move(delta) {
    var list = items();
    if (!list.length) return;
    var idx = list.findIndex(function (li) { return li.classList.contains("selected"); });
    if (idx < 0) idx = list.findIndex(function (li) { return li.classList.contains("current"); });
    var next = Math.max(0, Math.min(list.length - 1, idx + delta));
    list.forEach(function (li) { li.classList.remove("selected"); });
    list[next].classList.add("selected");
    list[next].querySelector("a").focus();
  }
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    // Esc leaves a menu the keyboard put you in (t: the team menu), so the shortcuts work again
    if (ev.key === "Escape" && t.matches("select")) { t.blur(); ev.preventDefault(); return; }
    if (t.matches("input, textarea, select") || t.isContentEditable) return;
    var ta = document.getElementById("reply-text");
    switch (ev.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "o": case "Enter": {
        var sel = document.querySelector(".convs li.selected a");
        if (sel && ev.key === "o") sel.click();
        return;
      }
      case "r": if (ta) { form.querySelector('input[value="reply"]').checked = true; updateCounter(); ta.focus(); } break;
      case "n": if (ta) { form.querySelector('input[value="note"]').checked = true; updateCounter(); ta.focus(); } break;
      case "e": if (conversationEl()) patch({ status: "resolved" }, "Resolved"); break;
      case "a": if (conversationEl()) patch({ assignee: "me" }, "Assigned to you"); break;
      case "t": { var ts = document.getElementById("team"); if (ts) ts.focus(); else return; break; }
      case "s": if (conversationEl()) patch({ snoozed_until: new Date(Date.now() + 4 * 3600 * 1000).toISOString() }, "Snoozed"); break;
      case "/": document.getElementById("f-q").focus(); break;
      case "?": document.getElementById("help").showModal(); break;
      default: return;
    }
    ev.preventDefault();
  });
})();
