/*
 * Warden's own small script. Loaded with `defer` from base.html; the pages work without it.
 *
 * Templates carry no inline scripts or on* attributes (strict CSP), so behaviour is declared with
 * data- attributes and wired up here:
 *
 *   <details class="menu">            closes on Escape and on a click outside it
 *   <form data-confirm="Delete X?">   asks before submitting (also on a <button data-confirm>)
 *   htmx request errors               shown as an error message instead of failing silently
 */
(function () {
  "use strict";

  // Controls marked .no-js-only (e.g. a "Show the columns" button that htmx makes unnecessary) hide.
  document.documentElement.classList.add("js");

  function openMenus() {
    return document.querySelectorAll("details.menu[open]");
  }

  // Menus: Escape closes the open one and returns focus to its toggle; a click outside closes all.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    openMenus().forEach(function (menu) {
      menu.open = false;
      var summary = menu.querySelector("summary");
      if (summary && menu.contains(document.activeElement)) summary.focus();
    });
  });

  document.addEventListener("click", function (event) {
    openMenus().forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });

  // Only one menu open at a time.
  document.addEventListener(
    "toggle",
    function (event) {
      var opened = event.target;
      if (!(opened instanceof HTMLDetailsElement) || !opened.classList.contains("menu") || !opened.open) return;
      openMenus().forEach(function (menu) {
        if (menu !== opened) menu.open = false;
      });
    },
    true
  );

  // Confirmation before destructive actions.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      var submitter = event.submitter;
      var question =
        (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) event.preventDefault();
    },
    true
  );

  // htmx: a failed request should say so where the messages usually appear.
  function showError(text) {
    var list = document.getElementById("messages");
    if (!list) return;
    var item = document.createElement("div");
    item.className = "message message-error";
    item.setAttribute("role", "alert");
    var span = document.createElement("span");
    span.className = "message__text";
    span.textContent = text;
    item.appendChild(span);
    list.appendChild(item);
    list.hidden = false;
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail && event.detail.xhr ? event.detail.xhr.status : "";
    if (status === 403) showError("You do not have permission to do that.");
    else if (status === 404) showError("That item no longer exists, or you cannot see it.");
    else showError("Something went wrong (" + status + "). Please reload the page and try again.");
  });

  document.addEventListener("htmx:sendError", function () {
    showError("Warden could not be reached. Check your connection and try again.");
  });
})();
