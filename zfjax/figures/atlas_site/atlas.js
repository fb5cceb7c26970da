// zfjax atlas: reorders a layer page's unit tiles (no library, no network).
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  var select = document.getElementById('order');
  var box = document.getElementById('units');
  if (!select || !box) {
    return;
  }
  function order() {
    var key = select.value;
    var tiles = Array.prototype.slice.call(box.children);
    tiles.sort(function (a, b) {
      if (key === 'unit') {
        return Number(a.dataset.unit) - Number(b.dataset.unit);
      }
      // Strongest first; ties by unit number, so the order is stable.
      return (Number(b.dataset[key]) - Number(a.dataset[key]) ||
              Number(a.dataset.unit) - Number(b.dataset.unit));
    });
    tiles.forEach(function (tile) { box.appendChild(tile); });
  }
  select.addEventListener('change', order);
  order();
});
