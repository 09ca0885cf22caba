// unfold's app.js (fileInputUpdatePath) gives every <input type=file> a change listener that
// copies the chosen file name into a text input three levels up, which only unfold's own file
// widget has. CKEditor's "insert image" button holds a bare file input, so choosing a picture
// threw "Cannot read properties of null (reading 'setAttribute')". unfold skips inputs marked
// hasChangeListener: mark CKEditor's as they appear. This observer is created before unfold's
// (which starts on window load), so it runs first for the same change.
(function () {
  function markEditorFileInputs() {
    for (const input of document.querySelectorAll(".ck input[type=file]")) {
      input.hasChangeListener = true;
    }
  }

  new MutationObserver(markEditorFileInputs).observe(document.documentElement, {
    childList: true,
    subtree: true,
  });
})();
