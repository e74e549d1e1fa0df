(function () {
  // Progressive enhancement only: without it every field still posts and the hub picks the
  // environment of the chosen tier (environment-TIER). Here: show the chosen tier's options and
  // environment, the placement line of the chosen environment, and "Other..." text boxes.
  var form = document.currentScript.parentNode;
  var other = form.getAttribute("data-other");
  function sync() {
    var tier = form.querySelector('input[name="tier"]:checked');
    var chosen = tier ? tier.value : null;
    form.querySelectorAll("fieldset[data-options-for]").forEach(function (f) {
      var on = f.getAttribute("data-options-for") === chosen;
      f.disabled = !on;
      f.hidden = !on;
    });
    form.querySelectorAll("select[data-env-for]").forEach(function (s) {
      s.disabled = s.getAttribute("data-env-for") !== chosen;
      var card = s.closest(".jh-tier-card");
      card.querySelectorAll("[data-env]").forEach(function (line) {
        line.hidden = line.getAttribute("data-env") !== s.value;
      });
    });
    form.querySelectorAll("select[data-other]").forEach(function (s) {
      var text = document.getElementById(s.getAttribute("data-other"));
      if (text) {
        text.disabled = s.value !== other;
        text.hidden = text.disabled;
      }
    });
  }
  form.addEventListener("change", sync);
  sync();
})();
