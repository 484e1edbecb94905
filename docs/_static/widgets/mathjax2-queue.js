// The ipywidgets HTML manager typesets widget labels with MathJax 2's API,
// MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); this site bundles MathJax 3,
// which has no Hub, so every label would throw. When MathJax 3 installs itself as
// window.MathJax, give it a Hub whose Queue typesets the element with MathJax 3.
(function () {
  "use strict";
  function queue(job) {
    var mj = window.MathJax;
    var element = job && job[2];
    if (!mj || !mj.startup || !mj.typesetPromise || !element) return;
    mj.startup.promise
      .then(function () { return mj.typesetPromise([element]); })
      .catch(function (err) { console.warn("MathJax could not typeset a widget label", err); });
  }
  function withHub(value) {
    // MathJax 3's own object has a version; the configuration object before it has none.
    if (value && typeof value === "object" && value.version && !value.Hub) {
      value.Hub = { Queue: queue };
    }
    return value;
  }
  var current = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); },
  });
})();
