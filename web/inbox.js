// The agents' inbox (channels/inbox.py): keeps a conversation's history current while the agent
// types, so the user's new messages appear without a reload (which would empty the reply box).
// The page works without it: a reload shows the same. The history comes from the server already
// escaped (/inbox/c/<key>/history); this script only swaps it in.
(function () {
  "use strict";
  var history = document.getElementById("history");
  if (!history || !history.getAttribute("data-src")) {
    return;
  }
  var source = history.getAttribute("data-src");
  var every = 5000;

  function atBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  }

  function refresh() {
    fetch(source, { credentials: "same-origin", cache: "no-store" }).then(function (answer) {
      if (answer.status === 200) {
        return answer.text().then(function (html) {
          if (html !== history.innerHTML) {
            var follow = atBottom();
            history.innerHTML = html;
            if (follow) {
              history.lastElementChild && history.lastElementChild.scrollIntoView({ block: "end" });
            }
          }
          window.setTimeout(refresh, every);
        });
      }
      // Handed back, timed out or signed out: say so once and stop asking.
      return answer.text().then(function (text) {
        var note = document.createElement("p");
        note.className = "error";
        note.id = "history-ended";
        var key = answer.status === 401 || answer.status === 403 ? "data-signed-out" : "data-ended";
        note.textContent = history.getAttribute(key) || text;
        history.parentNode.insertBefore(note, history.nextSibling);
      });
    }).catch(function () {
      window.setTimeout(refresh, every * 2); // the server restarting: try again later
    });
  }

  window.setTimeout(refresh, every);
})();
