// Search results show a snippet of each page's text, taken from the page's HTML, where the
// maths is still TeX source (MathJax typesets it only in the browser): "\theta^{(t)}" in a
// summary helps nobody. Drop the maths from the text a snippet is cut from.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  // (searchtools.js declares Search with const: a global name, not a window property)
  if (typeof Search === "undefined" || typeof Search.htmlToText !== "function") return;
  var toText = Search.htmlToText;
  Search.htmlToText = function (htmlString, anchor) {
    var doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(".math, .MathJax, mjx-container").forEach(function (el) {
      el.replaceWith(doc.createTextNode(" … "));
    });
    return toText(doc.documentElement.outerHTML, anchor);
  };
});
