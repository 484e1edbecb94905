// The ipywidgets HTML manager validates the saved widget state with ajv, which prints a
// "strict mode: use allowUnionTypes to allow union type keyword" warning for the schema it
// ships (harmless: the schema is the manager's own). Keep the console for real problems.
// Loaded just before embed.js, on pages with widgets only.
(function () {
  "use strict";
  var warn = console.warn;
  console.warn = function () {
    var first = arguments[0];
    if (typeof first === "string" && first.indexOf("allowUnionTypes") !== -1) return;
    return warn.apply(console, arguments);
  };
})();
