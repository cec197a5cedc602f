/* omnihub web chat widget.
 * <script src="https://HUB/widget.js" data-connector="site" data-color="#0a7a5a"
 *         data-greeting="Hi! How can we help?" data-title="Support" async></script>
 * Everything lives in a shadow root, so the host page's CSS cannot break it (nor it the page).
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector('script[src*="/widget.js"][data-connector]');
  if (!script || window.__omnihubWidget) return;
  window.__omnihubWidget = true;
  var base = new URL(script.src, window.location.href).origin;
  var connector = script.getAttribute("data-connector");
  if (!connector) return;
  var color = /^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/.test(script.getAttribute("data-color") || "") ? script.getAttribute("data-color") : "#1f5fa8";
  var greeting = script.getAttribute("data-greeting") || "Hi! How can we help?";
  var title = script.getAttribute("data-title") || "Chat with us";
  var key = "omnihub:" + connector + ":";

  function store(k, v) { try { if (v === undefined) return localStorage.getItem(key + k); localStorage.setItem(key + k, v); } catch (e) { return null; } }
  function randomId(bytes) {
    var a = new Uint8Array(bytes);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  var visitor = store("visitor");
  if (!visitor || !/^[A-Za-z0-9_-]{16,64}$/.test(visitor)) { visitor = randomId(16); store("visitor", visitor); }

  // Readable text on the chosen colour (WCAG relative luminance).
  function textOn(hex) {
    if (hex.length === 4) hex = "#" + hex[1] + hex[1] + hex[2] + hex[2] + hex[3] + hex[3];
    var c = [1, 3, 5].map(function (i) { var v = parseInt(hex.substr(i, 2), 16) / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    var L = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    return (1.05 / (L + 0.05)) >= ((L + 0.05) / 0.05) ? "#ffffff" : "#111111";
  }
  var fg = textOn(color);

  var host = document.createElement("div");
  host.id = "omnihub-chat";
  host.style.cssText = "position:fixed;right:16px;bottom:16px;z-index:2147483000;";
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    '<style>' +
    ':host{all:initial}*{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:15px;line-height:1.4}' +
    '.launch{background:' + color + ';color:' + fg + ';border:0;border-radius:28px;padding:12px 18px;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer;font-weight:600}' +
    '.launch:focus-visible,button:focus-visible,textarea:focus-visible,input:focus-visible{outline:3px solid #111;outline-offset:2px}' +
    '.panel{display:none;flex-direction:column;width:min(360px,calc(100vw - 32px));height:min(520px,calc(100vh - 96px));background:#fff;color:#1b1f24;border:1px solid #d0d7de;border-radius:12px;box-shadow:0 8px 28px rgba(0,0,0,.25);overflow:hidden;margin-bottom:10px}' +
    '.open .panel{display:flex}.open .launch{display:none}' +
    'header{background:' + color + ';color:' + fg + ';padding:10px 14px;display:flex;align-items:center;gap:8px}' +
    'header h2{margin:0;font-size:16px;flex:1;color:inherit}header button{background:none;border:0;color:inherit;font-size:22px;cursor:pointer;line-height:1}' +
    '.log{flex:1;overflow:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9;margin:0;list-style:none}' +
    '.msg{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}' +
    '.agent{background:#fff;border:1px solid #d0d7de;align-self:flex-start}.visitor{background:' + color + ';color:' + fg + ';align-self:flex-end}' +
    '.pending{opacity:.7}.who{display:block;font-size:12px;color:#57606a;margin-bottom:2px}.visitor .who{color:inherit;opacity:.85}' +
    'form{border-top:1px solid #d0d7de;padding:8px;display:flex;gap:6px;align-items:flex-end;background:#fff}' +
    'textarea{flex:1;resize:none;border:1px solid #57606a;border-radius:8px;padding:7px;min-height:40px;max-height:120px;color:#1b1f24;background:#fff}' +
    '.send{background:' + color + ';color:' + fg + ';border:0;border-radius:8px;padding:9px 12px;cursor:pointer;font-weight:600}' +
    'details{padding:6px 12px;border-top:1px solid #d0d7de;background:#fff;font-size:13px}details label{display:block;margin-top:4px;color:#1b1f24}details input{width:100%;border:1px solid #57606a;border-radius:6px;padding:5px;color:#1b1f24;background:#fff}' +
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}.err{color:#b42318;padding:0 12px;font-size:13px;margin:4px 0}' +
    '.typing{margin:0;padding:2px 12px;font-size:13px;color:#57606a;font-style:italic;min-height:1.4em;background:#f6f7f9}' +
    '.badge{display:inline-block;min-width:1.4em;margin-left:8px;padding:0 6px;border-radius:10px;background:#b42318;color:#fff;font-size:13px;line-height:1.5;text-align:center}.badge[hidden]{display:none}' +
    '</style>' +
    '<div class="wrap">' +
    '<section class="panel" role="dialog" aria-modal="false" aria-labelledby="ohw-title">' +
    '<header><h2 id="ohw-title"></h2><button type="button" class="close" aria-label="Close chat">×</button></header>' +
    '<ol class="log" role="log" aria-live="polite" aria-label="Messages"></ol>' +
    '<p class="typing" aria-live="polite"></p>' +
    '<p class="err" role="alert"></p>' +
    '<details><summary>Your name and email (optional)</summary>' +
    '<label for="ohw-name">Name</label><input id="ohw-name" autocomplete="name">' +
    '<label for="ohw-email">Email</label><input id="ohw-email" type="email" autocomplete="email"></details>' +
    '<form><label for="ohw-text" class="sr">Your message</label><textarea id="ohw-text" rows="1" placeholder="Type your message…" maxlength="4000"></textarea>' +
    '<button type="submit" class="send">Send</button></form>' +
    '</section>' +
    '<button type="button" class="launch" aria-expanded="false"><span class="label"></span><span class="badge" hidden></span></button></div>';

  var wrap = root.querySelector(".wrap"), log = root.querySelector(".log"), err = root.querySelector(".err");
  var launch = root.querySelector(".launch"), text = root.querySelector("textarea");
  var typingEl = root.querySelector(".typing"), badge = root.querySelector(".badge");
  var nameIn = root.getElementById("ohw-name"), emailIn = root.getElementById("ohw-email");
  root.getElementById("ohw-title").textContent = title;
  launch.querySelector(".label").textContent = title;
  nameIn.value = store("name") || ""; emailIn.value = store("email") || "";
  nameIn.addEventListener("change", function () { store("name", nameIn.value.trim()); });
  emailIn.addEventListener("change", function () { store("email", emailIn.value.trim()); });

  var shown = {};   // entry id -> element
  var pending = {}; // client id -> element (sent, not yet stored)
  function add(entry, cls) {
    var li = document.createElement("li");
    li.className = "msg " + cls;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = cls.indexOf("visitor") >= 0 ? "You" : (entry.author || title);
    li.appendChild(who);
    li.appendChild(document.createTextNode(entry.text)); // text only: never HTML
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    return li;
  }
  // unread badge: agent answers that arrived while the chat was closed (kept across reloads:
  // the id of the last entry the visitor saw is stored)
  function isOpen() { return wrap.classList.contains("open"); }
  function showBadge(n) {
    badge.hidden = !n;
    badge.textContent = n ? String(n) : "";
    launch.setAttribute("aria-label", title + (n ? ", " + n + " new " + (n === 1 ? "message" : "messages") : ""));
  }
  function countUnread(items) {
    if (isOpen()) {
      if (items.length) store("seen", items[items.length - 1].id);
      showBadge(0);
      return;
    }
    var seen = store("seen"), after = !seen, n = 0;
    items.forEach(function (e) {
      if (after && e.from !== "visitor") n++;
      if (e.id === seen) after = true;
    });
    if (seen && !items.some(function (e) { return e.id === seen; })) n = 0;  // history moved on: do not guess
    showBadge(n);
  }
  showBadge(parseInt(store("unread") || "0", 10) || 0);
  var lastItems = [];
  function render(items) {
    lastItems = items;
    if (items.length) store("started", "1");
    countUnread(items);
    store("unread", String(isOpen() ? 0 : (parseInt(badge.textContent || "0", 10) || 0)));
    if (!items.length && !log.children.length) add({ text: greeting, author: title }, "agent greeting");
    items.forEach(function (e) {
      if (shown[e.id]) return;
      if (e.client_id && pending[e.client_id]) {
        pending[e.client_id].classList.remove("pending");
        shown[e.id] = pending[e.client_id];
        delete pending[e.client_id];
        return;
      }
      shown[e.id] = add(e, e.from === "visitor" ? "visitor" : "agent");
    });
  }

  var url = base + "/widget/" + encodeURIComponent(connector);
  var source = null;
  function connect() {
    if (source || !window.EventSource) return;
    source = new EventSource(url + "/stream?visitor=" + visitor);
    source.addEventListener("messages", function (ev) {
      try { render(JSON.parse(ev.data).items || []); } catch (e) { /* ignore a bad frame */ }
    });
    source.addEventListener("typing", function (ev) {
      var data = {};
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      showTyping(!!data.agent, data.ttl);
    });
  }

  // typing indicators: "Support is typing…" here; our own typing is signalled (throttled)
  var typingTimer = null;
  function showTyping(on, ttl) {  // ttl: OMNIHUB_TYPING_SECONDS, sent with the event
    clearTimeout(typingTimer);
    typingEl.textContent = on ? "Support is typing…" : "";
    if (on) typingTimer = setTimeout(function () { typingEl.textContent = ""; }, (ttl || 6) * 1000);
  }
  var lastTypingSent = 0;
  text.addEventListener("input", function () {
    if (!text.value.trim() || store("started") !== "1" || Date.now() - lastTypingSent < 3000) return;
    lastTypingSent = Date.now();
    fetch(url + "/typing", {
      method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ visitor: visitor })
    }).catch(function () { /* an indicator is best effort */ });
  });
  function loadHistory() {
    return fetch(url + "/messages?visitor=" + visitor, { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .then(function (d) { render(d.items || []); })
      .catch(function () { render([]); });
  }
  function open(focus) {
    wrap.classList.add("open");
    launch.setAttribute("aria-expanded", "true");
    store("open", "1");
    countUnread(lastItems);
    store("unread", "0");
    loadHistory().then(connect);
    if (focus) text.focus();
  }
  function close() {
    wrap.classList.remove("open");
    launch.setAttribute("aria-expanded", "false");
    store("open", "0");
    launch.focus();
  }
  launch.addEventListener("click", function () { open(true); });
  root.querySelector(".close").addEventListener("click", close);
  root.addEventListener("keydown", function (ev) { if (ev.key === "Escape") close(); });
  text.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); root.querySelector("form").requestSubmit(); }
  });
  root.querySelector("form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = text.value.trim();
    if (!body) return;
    err.textContent = "";
    var id = randomId(12);
    pending[id] = add({ text: body }, "visitor pending");
    text.value = "";
    var payload = { visitor: visitor, id: id, text: body, page: window.location.href };
    if (navigator.language) payload.language = navigator.language;  // a prior for language detection
    if (nameIn.value.trim()) payload.name = nameIn.value.trim();
    if (emailIn.value.trim()) payload.email = emailIn.value.trim();
    fetch(url + "/messages", {
      method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload)
    }).then(function (r) {
      if (!r.ok) return r.json().catch(function () { return {}; }).then(function (d) { throw new Error(d.error || ("HTTP " + r.status)); });
      store("started", "1");
      connect();
    }).catch(function (e) {
      err.textContent = "Not sent: " + e.message;
      if (pending[id]) { pending[id].remove(); delete pending[id]; }
      text.value = body;
    });
  });

  (document.body || document.documentElement).appendChild(host);
  if (store("open") === "1") open(false);
  else if (store("started") === "1") connect();  // closed: still listen, for the unread badge
})();
