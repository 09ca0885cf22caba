// The column names unfold shows before each cell on a phone (data-label) are verbose names in
// lower case; admin.css stops CSS from capitalising every word, and this capitalises the first.
document.addEventListener("DOMContentLoaded", () => {
  for (const cell of document.querySelectorAll("[data-label]")) {
    const label = cell.dataset.label;
    cell.dataset.label = label.charAt(0).toUpperCase() + label.slice(1);
  }
});
