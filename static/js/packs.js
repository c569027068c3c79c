// Evidence-pack build form: show only the fields of the chosen scope. Without JavaScript every field
// stays visible and the labels say which scope each belongs to.
(function () {
  "use strict";
  function update(form) {
    var chosen = form.querySelector('input[name="scope_kind"]:checked');
    var kind = chosen ? chosen.value : "";
    form.querySelectorAll("[data-scope-field]").forEach(function (block) {
      block.hidden = block.getAttribute("data-scope-field") !== kind;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-pack-form]");
    if (!form) return;
    form.addEventListener("change", function (event) {
      if (event.target.name === "scope_kind") update(form);
    });
    update(form);
  });
})();
