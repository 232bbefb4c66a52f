// MathJax typesets only what pymdownx.arithmatex wrapped (class "arithmatex"):
// \( ... \) inline, \[ ... \] display. MathJax itself is served from assets/mathjax/.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    // an unknown macro is an error (a box with the message), not red text that passes unseen
    packages: {"[-]": ["noundefined"]},
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};
