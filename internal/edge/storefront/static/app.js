// kitshop storefront: two small behaviours on top of plain HTML forms.
"use strict";

// A form marked data-once is sent once: a second click while the first
// submission is under way does nothing (the server's Idempotency-Key makes a
// resubmission harmless anyway).
document.addEventListener("submit", function (e) {
  var form = e.target;
  if (!form.hasAttribute("data-once")) return;
  if (form.dataset.sent) { e.preventDefault(); return; }
  form.dataset.sent = "1";
  form.querySelectorAll("button[type=submit]").forEach(function (b) {
    b.setAttribute("aria-disabled", "true");
    b.textContent = "Placing your order…";
  });
});

// The order page follows its order: it asks for the status every second
// until the order reaches a status it keeps.
(function () {
  var live = document.getElementById("order-live");
  if (!live || !live.dataset.live) return;
  var status = document.getElementById("order-status");
  var reason = document.getElementById("order-reason");
  var payment = document.getElementById("order-payment");
  var note = document.getElementById("order-notification");
  function poll() {
    fetch(live.dataset.live, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (o) {
        status.textContent = o.statusText;
        status.dataset.status = o.status;
        status.className = "badge " + o.statusClass;
        payment.textContent = o.paymentStatus;
        if (o.failureReason) { reason.textContent = o.failureReason; reason.hidden = false; }
        if (o.notification) note.textContent = o.notification;
        if (!o.final || !o.notification && o.status !== "PaymentFailed" && o.status !== "PaymentCancelled") setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
