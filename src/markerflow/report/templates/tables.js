/* markerflow summary page: sortable, searchable, paged tables. Plain ES2017, no library, no
 * network: inlined into report/summary.html by markerflow.report.summary.
 *
 * Every <div class="mf-table"> holds either a server-rendered <table> (small tables) or a
 * <script class="mf-data"> block {"c": columns, "n": numeric flags, "g": index of the gene column
 * or -1, "d": columns of display strings (null = NA), optionally "v"/"p": the column and anchor prefix of links
 * to per-gene panels} as gzip-compressed JSON in base64 (large tables); its rows are
 * kept in memory and the visible page is rendered from them. Clicking a header sorts (numbers
 * numerically, NA last in either direction; a second click reverses); the search box keeps rows
 * containing the text (case-insensitive, any cell); the page-size menu shows 25 / 100 / 1000 / all
 * rows. Opening #<id> of a per-gene panel (<details>) opens it.
 */
(function () {
  "use strict";
  var NCBI = "https://www.ncbi.nlm.nih.gov/gene/?term=";

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (ch) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch];
    });
  }

  function numKey(text) {
    var v = parseFloat(text);
    return isNaN(v) ? null : v;
  }

  function fromJson(box, data) {
    var table = document.createElement("table");
    var head = "<thead><tr>" + data.c.map(function (c, i) {
      return "<th" + (data.n[i] ? ' class="num"' : "") + ">" + esc(c) + "</th>";
    }).join("") + "</tr></thead><tbody></tbody>";
    table.innerHTML = head;
    box.querySelector(".mf-scroll").appendChild(table);
    var nrows = data.d.length ? data.d[0].length : 0;
    var byRow = [];
    for (var j = 0; j < nrows; j++) {
      byRow.push(data.d.map(function (col) { return col[j]; }));
    }
    var rows = byRow.map(function (r) {
      var cells = r.map(function (v, i) {
        var text = v === null ? "NA" : String(v);
        if (i === data.v && v && data.p) {
          return '<td><a href="#' + esc(data.p + r[data.g]) + '">' + esc(text) + "</a></td>";
        }
        if (i === data.g && v !== null && text !== "NA") {
          return '<td><a href="' + NCBI + encodeURIComponent(text) + '" target="_blank" ' +
            'rel="noopener noreferrer">' + esc(text) + "</a></td>";
        }
        return data.n[i] ? '<td class="num">' + esc(text) + "</td>" : "<td>" + esc(text) + "</td>";
      });
      return {
        h: "<tr>" + cells.join("") + "</tr>",
        t: r.join("\u0001").toLowerCase(),
        k: r.map(function (v, i) { return data.n[i] ? numKey(v) : (v === null ? null : String(v)); })
      };
    });
    return {table: table, rows: rows, numeric: data.n};
  }

  function fromDom(box) {
    var table = box.querySelector("table");
    var numeric = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
      return th.classList.contains("num");
    });
    var rows = Array.prototype.map.call(table.tBodies[0].rows, function (tr) {
      var texts = Array.prototype.map.call(tr.cells, function (td) { return td.textContent; });
      Array.prototype.forEach.call(tr.cells, function (td, i) {
        if (td.classList.contains("num")) { numeric[i] = true; }
      });
      return {h: tr.outerHTML, t: texts.join("\u0001").toLowerCase(), k: texts};
    });
    rows.forEach(function (row) {
      row.k = row.k.map(function (text, i) {
        if (text === "NA") { return null; }
        return numeric[i] ? numKey(text) : text;
      });
    });
    return {table: table, rows: rows, numeric: numeric};
  }

  /* The rows of a large table: gzip-compressed JSON in base64, inflated by the browser's own
   * DecompressionStream (Chromium 80, Firefox 113, Safari 16.4); plain JSON otherwise. */
  function decode(script) {
    if (script.getAttribute("data-encoding") !== "gzip+base64") {
      return Promise.resolve(JSON.parse(script.textContent));
    }
    if (typeof DecompressionStream === "undefined") {
      return Promise.reject(new Error("this browser has no DecompressionStream"));
    }
    var bin = atob(script.textContent.trim());
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  function init(box) {
    var json = box.querySelector("script.mf-data");
    if (!json) { setup(box, fromDom(box)); return Promise.resolve(); }
    return decode(json).then(function (data) { setup(box, fromJson(box, data)); }, function (err) {
      box.querySelector(".mf-count").textContent = "table not shown: " + err.message;
    });
  }

  function setup(box, model) {
    var all = model.rows;
    var view = all.slice();
    var sortCol = -1, sortDir = 1, page = 0;
    var search = box.querySelector(".mf-search");
    var size = box.querySelector(".mf-size");
    var count = box.querySelector(".mf-count");
    var prev = box.querySelector(".mf-prev");
    var next = box.querySelector(".mf-next");
    var tbody = model.table.tBodies[0];
    var ths = model.table.tHead.rows[0].cells;

    function pageSize() {
      var v = size ? size.value : "all";
      return v === "all" ? Infinity : parseInt(v, 10);
    }

    function render() {
      var n = pageSize();
      var pages = Math.max(1, Math.ceil(view.length / n));
      page = Math.min(page, pages - 1);
      var start = n === Infinity ? 0 : page * n;
      var shown = view.slice(start, n === Infinity ? view.length : start + n);
      tbody.innerHTML = shown.map(function (r) { return r.h; }).join("");
      var of = view.length === all.length ? "" : " (filtered from " + all.length + ")";
      count.textContent = view.length === 0 ? "no matching row" + of :
        "rows " + (start + 1) + "\u2013" + (start + shown.length) + " of " + view.length + of;
      box.setAttribute("data-shown", String(shown.length));
      box.setAttribute("data-matching", String(view.length));
      if (prev) { prev.disabled = page === 0; }
      if (next) { next.disabled = page >= pages - 1; }
    }

    function compare(a, b) {
      var x = a.k[sortCol], y = b.k[sortCol];
      if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }  // NA last
      var c = model.numeric[sortCol] ? x - y : String(x).localeCompare(String(y), undefined,
        {numeric: true, sensitivity: "base"});
      return sortDir * c;
    }

    function refresh() {
      var q = search ? search.value.trim().toLowerCase() : "";
      view = q ? all.filter(function (r) { return r.t.indexOf(q) !== -1; }) : all.slice();
      if (sortCol >= 0) { view.sort(compare); }  // Array.prototype.sort is stable (ES2019)
      render();
    }

    Array.prototype.forEach.call(ths, function (th, i) {
      th.classList.add("mf-sortable");
      th.setAttribute("title", "sort by " + th.textContent);
      th.addEventListener("click", function () {
        sortDir = sortCol === i ? -sortDir : 1;
        sortCol = i;
        Array.prototype.forEach.call(ths, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", sortDir === 1 ? "ascending" : "descending");
        page = 0;
        refresh();
      });
    });
    if (search) { search.addEventListener("input", function () { page = 0; refresh(); }); }
    if (size) { size.addEventListener("change", function () { page = 0; render(); }); }
    if (prev) { prev.addEventListener("click", function () { page -= 1; render(); }); }
    if (next) { next.addEventListener("click", function () { page += 1; render(); }); }
    box.setAttribute("data-rows", String(all.length));
    render();
    box.classList.add("mf-ready");
  }

  function openHash() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (target && target.tagName === "DETAILS") { target.open = true; target.scrollIntoView(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var boxes = document.querySelectorAll("div.mf-table");
    Promise.all(Array.prototype.map.call(boxes, init)).then(function () {
      window.addEventListener("hashchange", openHash);
      openHash();
      document.body.setAttribute("data-tables-ready", String(boxes.length));
    });
  });
})();
