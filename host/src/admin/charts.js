(function () {
  function draw(id, samples, series) {
    var c = document.getElementById(id);
    if (!c) return;
    var g = c.getContext('2d'), w = c.width, h = c.height;
    g.clearRect(0, 0, w, h);
    var max = 1;
    samples.forEach(function (s) { series.forEach(function (k) { if (s[k[0]] > max) max = s[k[0]]; }); });
    g.fillStyle = '#555'; g.font = '12px sans-serif';
    g.fillText(max + '/s', 4, 12);
    series.forEach(function (k, j) {
      g.strokeStyle = k[1]; g.beginPath();
      samples.forEach(function (s, i) {
        var x = samples.length > 1 ? i * (w - 1) / (samples.length - 1) : 0;
        var y = h - 2 - (s[k[0]] / max) * (h - 20);
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
      g.fillStyle = k[1]; g.fillText(k[0], 80 + j * 110, 12);
    });
  }
  function tick() {
    fetch('/api/rates?seconds=3600', {credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (d) {
        draw('rates', d.samples, [['messages_in', '#1d3557'], ['messages_out', '#e63946']]);
        draw('dlrs', d.samples, [['delivered', '#2a7d2a'], ['undelivered', '#c00'], ['pending', '#b36b00']]);
      })
      .catch(function () {});
  }
  tick();
  setInterval(tick, 2000);
})();
