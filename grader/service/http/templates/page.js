document.querySelector("form").addEventListener("submit", function (event) {
  var button = event.target.querySelector("button");
  button.disabled = true;
  button.textContent = "Uploading\u2026";
});
