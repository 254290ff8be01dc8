// The task pane (full manifest only: it reads the master category list and the selection).
// Names come from the mailbox and are shown as text, never as HTML.
Office.onReady(function () {
  var status = document.getElementById("status");
  function say(text) { status.textContent = text; }
  function apply(name) {
    say("Working…");
    CrmTrack.applyToSelection(name).then(function (r) {
      say(r.done + " message(s) marked for CRM Bridge" + (r.failed ? ", " + r.failed + " could not be changed." : "."));
    }, function (e) { say((e.title || "Not tracked") + ": " + e.message); });
  }
  document.getElementById("track").addEventListener("click", function () { apply(CrmTrack.TRACK_CATEGORY); });
  CrmTrack.regardingCategories().then(function (names) {
    var holder = document.getElementById("regarding");
    names.forEach(function (name) {
      var b = document.createElement("button");
      b.textContent = name.slice(CrmTrack.REGARDING_PREFIX.length);
      b.addEventListener("click", function () { apply(name); });
      holder.appendChild(b);
    });
    if (!names.length) say("No Regarding categories yet: pin records in CRM Bridge.");
  }, function (e) { say((e.title || "Problem") + ": " + e.message); });
});
