/* Draws the report's ECharts options (tenure/report/charts*.py) found in the page's JSON data
   block #tenure-charts into the elements of the same id. The options carry no code: where ECharts
   wants a formatter they name one of the formatters below; texts and hover boxes come formatted
   from Python, axis ticks use Intl in the workspace's locale and currency. */
(function () {
  "use strict";
  var data = document.getElementById("tenure-charts");
  if (!data || typeof echarts === "undefined") return;
  var charts = JSON.parse(data.textContent);
  var conf = JSON.parse(document.getElementById("tenure-locale").textContent);
  var locale = conf.locale, currency = conf.currency;
  var number = new Intl.NumberFormat(locale, {maximumFractionDigits: 2});
  var percent = new Intl.NumberFormat(locale, {style: "percent", maximumFractionDigits: 0});
  var whole = new Intl.NumberFormat(locale, {style: "currency", currency: currency, minimumFractionDigits: 0,
                                             maximumFractionDigits: 0});
  var cents = new Intl.NumberFormat(locale, {style: "currency", currency: currency});
  var day = new Intl.DateTimeFormat(locale, {day: "numeric", month: "short", year: "numeric", timeZone: "UTC"});
  function field(name) { return function (p) { return (p && p.data && p.data[name]) || ""; }; }
  var formatters = {
    "@text": field("text"),
    "@tip": field("tip"),
    "@tips": function (ps) {  // an axis tooltip: every series' box, the top of the stack first
      return ps.slice().reverse().map(function (p) { return p.data && p.data.tip; })
               .filter(Boolean).join("<br>");
    },
    "@num": function (v) { return number.format(v); },
    "@pct": function (v) { return percent.format(v); },
    "@money": function (v) { return (Math.abs(v) < 100 && v % 1 ? cents : whole).format(v); },
    "@date": function (v) { return day.format(new Date(v)); }
  };
  function wire(o) {
    if (Array.isArray(o)) { o.forEach(wire); return; }
    if (!o || typeof o !== "object") return;
    Object.keys(o).forEach(function (k) {
      if (k === "formatter" && typeof o[k] === "string" && formatters.hasOwnProperty(o[k])) o[k] = formatters[o[k]];
      else wire(o[k]);
    });
  }
  var drawn = [];
  Object.keys(charts).forEach(function (id) {
    var el = document.getElementById(id);
    if (!el) return;
    var figure = charts[id];
    el.style.height = figure.height + "px";  // CSSOM, allowed by the page's style-src 'self'
    wire(figure.option);
    var chart = echarts.init(el, null, {renderer: "svg"});
    chart.setOption(figure.option);
    drawn.push(chart);
  });
  var pending;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () { drawn.forEach(function (c) { c.resize(); }); }, 100);
  });
  document.body.setAttribute("data-charts", String(drawn.length));
})();
