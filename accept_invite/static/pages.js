/* Asks the server's own rules (POST /api/companies/validate) as the customer types, and shows the result:
   the reason next to each field, and the Create company button grey (disabled) or orange (enabled). */
(function () {
  "use strict";
  var form = document.querySelector("form[data-validate]");
  if (!form) { return; }
  var button = form.querySelector("button[data-submit]");
  var hint = document.getElementById("submit-hint");
  var url = form.getAttribute("data-validate");
  var timer = null;
  var sequence = 0;

  function apply(result) {
    var errors = result.errors || {};
    var reasons = form.querySelectorAll("[data-reason-for]");
    for (var i = 0; i < reasons.length; i++) {
      var name = reasons[i].getAttribute("data-reason-for");
      var message = errors[name] || "";
      if (reasons[i].textContent !== message) { reasons[i].textContent = message; }
      var input = form.elements.namedItem(name);
      if (input && input.setAttribute) {
        if (message) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
        var wrapper = input.closest(".field");
        if (wrapper) { wrapper.classList.toggle("invalid", !!message); }
      }
    }
    button.disabled = !result.valid;
    if (hint) { hint.hidden = !!result.valid; }
  }

  function check() {
    var mine = ++sequence;
    var body = new URLSearchParams(new FormData(form));
    fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (result) { if (result && mine === sequence) { apply(result); } })
      .catch(function () { /* offline for a moment: the server checks again on submit */ });
  }

  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(check, 150);
  });
  form.addEventListener("change", check);
  form.addEventListener("submit", function (event) {
    if (button.disabled) { event.preventDefault(); return; }
    button.setAttribute("aria-busy", "true");
  });
  check();
})();

/* Grey until valid for the users page's role forms (form[data-changes]): the Save button turns active only once the
   ticked roles differ from the user's current ones and at least one is ticked (the server checks the same again). */
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-changes]");
  Array.prototype.forEach.call(forms, function (form) {
    var button = form.querySelector("button[data-submit]");
    var boxes = form.querySelectorAll("input[type=checkbox][name=roles]");
    var initial = Array.prototype.map.call(boxes, function (box) { return box.checked; });
    var fixed = form.querySelectorAll("input[type=hidden][name=roles]").length;
    function update() {
      var changed = false, chosen = fixed;
      Array.prototype.forEach.call(boxes, function (box, i) {
        if (box.checked !== initial[i]) { changed = true; }
        if (box.checked) { chosen++; }
      });
      button.disabled = !(changed && chosen > 0);
    }
    form.addEventListener("change", update);
    form.addEventListener("submit", function (event) { if (button.disabled) { event.preventDefault(); } });
    update();
  });
})();
