/* geobench report explorer: renders the samples and compare pages from their embedded JSON, a page at a
   time; wires the index's compare selector. No library, no network. Model output is only ever set as text
   (textContent), never parsed as HTML; links and images point only at report-relative names we wrote. */
(function () {
  "use strict";
  var PAGE = 50, MAP_MAX = 3000;
  var BAND_COLOURS = ["#1a9850", "#66bd63", "#d9ef8b", "#fdae61", "#f46d43", "#d73027"];

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function safeName(n) {  // a file of the report folder: no scheme, no parent, no absolute path
    return typeof n === "string" && /^[A-Za-z0-9_.\/-]+$/.test(n) && n.indexOf("..") < 0 && n.charAt(0) !== "/";
  }
  function state() {
    var st = {}, h = location.hash.replace(/^#/, "");
    h.split("&").forEach(function (kv) {
      if (!kv) return;
      var i = kv.indexOf("="), k = i < 0 ? kv : kv.slice(0, i);
      try { st[decodeURIComponent(k)] = i < 0 ? "" : decodeURIComponent(kv.slice(i + 1)); } catch (e) { /* bad escape */ }
    });
    return st;
  }
  function setState(st) {
    var parts = [];
    Object.keys(st).forEach(function (k) { if (st[k] !== "" && st[k] !== undefined) parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(st[k])); });
    location.hash = parts.join("&");
  }
  function km(v) { return v === null || v === undefined ? "—" : (v < 10 ? v.toFixed(2) : Math.round(v).toLocaleString("en")) + " km"; }
  function bandOf(v, bands) {
    if (v === null || v === undefined) return -1;
    for (var i = 0; i < bands.length; i++) if (v <= bands[i]) return i;
    return bands.length;
  }
  function select(label, key, options, st, onchange) {
    var wrap = el("label", {}, label + " "), s = el("select", {"data-key": key});
    options.forEach(function (o) {
      var opt = el("option", {value: o[0]}, o[1]);
      if ((st[key] || "") === o[0]) opt.selected = true;
      s.appendChild(opt);
    });
    s.addEventListener("change", function () { onchange(key, s.value); });
    wrap.appendChild(s);
    return wrap;
  }

  // ------------------------------------------------------------------------------------------- samples
  function matches(r, st, bands) {
    if (st.id && r.i !== st.id) return false;
    if (st.outcome === "correct" && r.ok !== 1) return false;
    if (st.outcome === "wrong" && (r.ok !== 0 || r.u)) return false;
    if (st.outcome === "unparsed" && !r.u) return false;
    if (st.band) {
      var b = bandOf(r.km, bands), m = /^(le|in)(\d+)$/.exec(st.band);
      if (st.band === "gt") { if (b !== bands.length) return false; }
      else if (m) {
        var idx = bands.indexOf(Number(m[2]));
        if (b < 0 || (m[1] === "le" ? b > idx : b !== idx)) return false;
      }
    }
    if (st.group && (r.g || "") !== st.group) return false;
    if (st.truth !== undefined && st.truth !== "" && (r.tv || "") !== st.truth) return false;
    if (st.pred !== undefined && st.pred !== "" && (r.p || "∅") !== st.pred) return false;
    if (st.q && r.c.toLowerCase().indexOf(st.q.toLowerCase()) < 0) return false;
    return true;
  }
  function sorted(rows, how) {
    var key = {err_asc: function (r) { return r.km === null || r.km === undefined ? Infinity : r.km; },
               err_desc: function (r) { return r.km === null || r.km === undefined ? -1 : -r.km; },
               reward_asc: function (r) { return r.r === undefined ? Infinity : r.r; },
               reward_desc: function (r) { return r.r === undefined ? Infinity : -r.r; }}[how];
    if (!key) return rows;
    return rows.map(function (r, i) { return [key(r), i, r]; })
      .sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; }).map(function (x) { return x[2]; });
  }
  function completion(text) {  // <think> and <answer> set apart, everything as text
    var box = el("div", {"class": "completion"}), rest = text;
    [["think", "think"], ["answer", "answer"]].forEach(function (t) {
      var open = "<" + t[0] + ">", close = "</" + t[0] + ">", i = rest.indexOf(open);
      if (i < 0) return;
      var j = rest.indexOf(close, i + open.length);
      var inner = rest.slice(i + open.length, j < 0 ? rest.length : j);
      var before = rest.slice(0, i);
      if (before.trim()) box.appendChild(el("pre", {"class": "rest"}, before));
      var part = el("div", {"class": t[1]});
      part.appendChild(el("span", {"class": "tag"}, t[0]));
      part.appendChild(el("pre", {}, inner));
      box.appendChild(part);
      rest = j < 0 ? "" : rest.slice(j + close.length);
    });
    if (rest.trim()) box.appendChild(el("pre", {"class": "rest"}, rest));
    return box;
  }
  function card(r, d) {
    var c = el("article", {"class": "sample", id: "s-" + r.i});
    var head = el("div", {"class": "head"});
    head.appendChild(el("b", {}, r.i));
    var verdict = r.u ? ["unparsed", "unparsed"] : r.ok === 1 ? ["correct", "correct"] : r.ok === 0 ? ["wrong", "wrong"] : null;
    if (verdict) head.appendChild(el("span", {"class": "badge " + verdict[0]}, verdict[1]));
    if (d.kind === "geolocation") head.appendChild(el("span", {"class": "badge band" + bandOf(r.km, d.bands)}, "error " + km(r.km)));
    if (r.r !== undefined) head.appendChild(el("span", {"class": "badge"}, "reward " + r.r));
    if (r.f === "length") head.appendChild(el("span", {"class": "badge unparsed"}, "hit max_new_tokens"));
    c.appendChild(head);
    var body = el("div", {"class": "body"});
    if (r.img && r.img.length) {
      var imgs = el("div", {"class": "imgs"});
      r.img.forEach(function (src, j) {
        var fig = el("figure", {});
        var letter = d.kind === "crossview" && j > 0 ? String.fromCharCode(64 + j) : null;
        if (letter) {
          if (letter === (r.t || "").charAt(0)) fig.className += " true";
          if (letter === r.p) fig.className += " chosen";
        }
        if (safeName(src)) fig.appendChild(el("img", {src: src, alt: letter ? "candidate " + letter : "image"}));
        else fig.appendChild(el("div", {"class": "noimg"}, "no image"));
        var cap = d.kind === "crossview" ? (j === 0 ? "ground" : letter + (fig.className.indexOf("true") >= 0 ? " ✓ true" : "") + (fig.className.indexOf("chosen") >= 0 ? " ← chosen" : "")) : null;
        if (cap) fig.appendChild(el("figcaption", {}, cap));
        imgs.appendChild(fig);
      });
      body.appendChild(imgs);
    }
    var text = el("div", {"class": "text"});
    if (r.pr !== undefined && d.prompts[r.pr] !== undefined) {
      var det = el("details", {});
      det.appendChild(el("summary", {}, "prompt"));
      det.appendChild(el("pre", {}, d.prompts[r.pr]));
      text.appendChild(det);
    }
    text.appendChild(completion(r.c));
    var dl = el("dl", {});
    [["parsed", r.p || "— (nothing parsed)"], ["truth", r.t || "— (not available)"], [d.kind === "scene" ? "question" : d.kind === "geolocation" ? "country" : "group", r.g]].forEach(function (kv) {
      if (kv[1] === undefined || kv[1] === "") return;
      dl.appendChild(el("dt", {}, kv[0]));
      dl.appendChild(el("dd", {}, kv[1]));
    });
    dl.appendChild(el("dt", {}, "score"));
    dl.appendChild(el("dd", {"class": "metrics"}, Object.keys(r.m).map(function (k) { return k + "=" + r.m[k]; }).join("  ")));
    text.appendChild(dl);
    body.appendChild(text);
    c.appendChild(body);
    return c;
  }
  function worldMap(rows, d, go) {
    var box = el("div", {"class": "map"});
    var s = svg("svg", {viewBox: "-180 -90 360 180", role: "img"});
    s.appendChild(svg("rect", {x: -180, y: -90, width: 360, height: 180, fill: d.toy ? "#eef3f7" : "#fafafa"}));
    if (d.land && safeName(d.land)) s.appendChild(svg("image", {href: d.land, x: -180, y: -90, width: 360, height: 180, preserveAspectRatio: "none"}));
    for (var g = -150; g <= 150; g += 30) s.appendChild(svg("line", {x1: g, y1: -90, x2: g, y2: 90, "class": "grid"}));
    for (g = -60; g <= 60; g += 30) s.appendChild(svg("line", {x1: -180, y1: g, x2: 180, y2: g, "class": "grid"}));
    var drawn = 0;
    rows.forEach(function (r) {
      if (drawn >= MAP_MAX || !r.pl) return;
      drawn++;
      var colour = BAND_COLOURS[bandOf(r.km, d.bands)] || "#999";
      var a = svg("g", {"class": "pt", tabindex: "0"});
      if (r.tl) {
        a.appendChild(svg("line", {x1: r.tl[1], y1: -r.tl[0], x2: r.pl[1], y2: -r.pl[0], stroke: colour, "stroke-width": 0.35}));
        a.appendChild(svg("rect", {x: r.tl[1] - 0.8, y: -r.tl[0] - 0.8, width: 1.6, height: 1.6, fill: "#222"}));
      }
      a.appendChild(svg("circle", {cx: r.pl[1], cy: -r.pl[0], r: 1.4, fill: colour, stroke: "#333", "stroke-width": 0.2}));
      var t = svg("title", {});
      t.textContent = r.i + ": " + km(r.km);
      a.appendChild(t);
      a.addEventListener("click", function () { go(r.i); });
      s.appendChild(a);
    });
    box.appendChild(s);
    var legend = el("p", {"class": "legend"}, (d.toy ? "The toy planet (no Earth coastlines). " : "") +
      "Each prediction (dot) joined to its truth (square), coloured by error: ");
    d.bands.concat([null]).forEach(function (b, i) {
      var sw = el("span", {"class": "swatch"}, i < d.bands.length ? "≤" + b.toLocaleString("en") + " km" : ">" + d.bands[d.bands.length - 1].toLocaleString("en") + " km");
      sw.style.borderColor = BAND_COLOURS[i];
      legend.appendChild(sw);
    });
    legend.appendChild(document.createTextNode(" " + drawn + " of " + rows.length + " shown; click one to open it."));
    box.appendChild(legend);
    return box;
  }
  function confusion(rows, st, update) {
    var box = el("div", {"class": "confusion"}), byQ = {};
    rows.forEach(function (r) {
      if (r.tv === undefined) return;
      var q = r.g || "all", p = r.p || "∅";
      byQ[q] = byQ[q] || {truths: {}, preds: {}, n: {}};
      byQ[q].truths[r.tv] = 1; byQ[q].preds[p] = 1;
      byQ[q].n[r.tv + "\u0000" + p] = (byQ[q].n[r.tv + "\u0000" + p] || 0) + 1;
    });
    Object.keys(byQ).sort().forEach(function (q) {
      var c = byQ[q], preds = Object.keys(c.preds).sort(), tbl = el("table", {});
      var hr = el("tr", {});
      hr.appendChild(el("th", {}, q + ": truth \\ answer"));
      preds.forEach(function (p) { hr.appendChild(el("th", {}, p)); });
      tbl.appendChild(hr);
      Object.keys(c.truths).sort().forEach(function (t) {
        var tr = el("tr", {});
        tr.appendChild(el("th", {}, t));
        preds.forEach(function (p) {
          var n = c.n[t + "\u0000" + p] || 0, td = el("td", {"class": t === p ? "diag" : ""});
          if (n) {
            var a = el("a", {href: "#"}, n);
            a.addEventListener("click", function (ev) { ev.preventDefault(); update({group: q === "all" ? "" : q, truth: t, pred: p, page: ""}); });
            td.appendChild(a);
          } else td.textContent = "·";
          tr.appendChild(td);
        });
        tbl.appendChild(tr);
      });
      box.appendChild(tbl);
    });
    return box;
  }
  function samplesView(d, app) {
    var st = state();
    function update(changes) {
      var s = state();
      for (var k in changes) s[k] = changes[k];
      setState(s);
    }
    app.textContent = "";
    (d.notes || []).forEach(function (n) { app.appendChild(el("p", {"class": "note"}, n)); });
    var bar = el("div", {"class": "controls"});
    var set = function (k, v) { var c = {}; c[k] = v; c.page = ""; if (k !== "id") c.id = ""; update(c); };
    bar.appendChild(select("outcome", "outcome", [["", "all"], ["correct", "correct"], ["wrong", "wrong"], ["unparsed", "unparsed"]], st, set));
    if (d.kind === "geolocation") {
      var opts = [["", "any error"]];
      d.bands.forEach(function (b, i) {
        opts.push(["le" + b, "within " + b.toLocaleString("en") + " km"]);
        opts.push(["in" + b, (i ? d.bands[i - 1].toLocaleString("en") : "0") + "–" + b.toLocaleString("en") + " km"]);
      });
      opts.push(["gt", "over " + d.bands[d.bands.length - 1].toLocaleString("en") + " km"]);
      bar.appendChild(select("error", "band", opts, st, set));
    }
    var groups = {};
    d.rows.forEach(function (r) { if (r.g) groups[r.g] = (groups[r.g] || 0) + 1; });
    var gk = Object.keys(groups).sort();
    if (gk.length) bar.appendChild(select(d.kind === "scene" ? "question" : "country", "group",
      [["", "all"]].concat(gk.map(function (g) { return [g, g + " (" + groups[g] + ")"]; })), st, set));
    var sorts = [["", "document order"]];
    if (d.kind === "geolocation") sorts.push(["err_asc", "error: smallest first"], ["err_desc", "error: largest first"]);
    if (d.rows.some(function (r) { return r.r !== undefined; })) sorts.push(["reward_desc", "reward: highest first"], ["reward_asc", "reward: lowest first"]);
    bar.appendChild(select("sort", "sort", sorts, st, set));
    var search = el("input", {type: "search", placeholder: "search the completions", id: "gb-search"});
    search.value = st.q || "";
    search.addEventListener("change", function () { set("q", search.value); });
    bar.appendChild(search);
    app.appendChild(bar);
    var rows = sorted(d.rows.filter(function (r) { return matches(r, st, d.bands); }), st.sort);
    var pages = Math.max(1, Math.ceil(rows.length / PAGE)), page = Math.min(pages, Math.max(1, parseInt(st.page, 10) || 1));
    var active = ["id", "truth", "pred"].filter(function (k) { return st[k]; });
    var count = el("p", {"class": "count", id: "gb-count"}, rows.length + " of " + d.rows.length + " samples" +
      (active.length ? " (" + active.map(function (k) { return k + " = " + st[k]; }).join(", ") + ")" : ""));
    if (active.length || st.outcome || st.band || st.group || st.q) {
      var clear = el("a", {href: "#"}, " show all");
      clear.addEventListener("click", function (ev) { ev.preventDefault(); setState({}); });
      count.appendChild(clear);
    }
    app.appendChild(count);
    if (d.kind === "geolocation") app.appendChild(worldMap(rows, d, function (id) { update({id: id, page: ""}); }));
    if (d.kind === "scene") app.appendChild(confusion(d.rows, st, update));
    var nav = el("div", {"class": "pager"});
    var prev = el("button", {type: "button"}, "← previous"), next = el("button", {type: "button"}, "next →");
    prev.disabled = page <= 1; next.disabled = page >= pages;
    prev.addEventListener("click", function () { update({page: String(page - 1)}); });
    next.addEventListener("click", function () { update({page: String(page + 1)}); });
    nav.appendChild(prev); nav.appendChild(el("span", {}, " page " + page + " of " + pages + " ")); nav.appendChild(next);
    app.appendChild(nav);
    var list = el("div", {"class": "samples", id: "gb-samples"});
    rows.slice((page - 1) * PAGE, page * PAGE).forEach(function (r) { list.appendChild(card(r, d)); });
    app.appendChild(list);
    app.appendChild(nav.cloneNode(true)).querySelectorAll("button").forEach(function (b, i) {
      b.addEventListener("click", function () { update({page: String(page + (i ? 1 : -1))}); });
    });
  }

  // ------------------------------------------------------------------------------------------- compare
  function pct(v) { return v === null || v === undefined ? "—" : (100 * v).toFixed(1) + "%"; }
  function signed(v, f) { return v === null || v === undefined ? "—" : (v >= 0 ? "+" : "") + f(v); }
  function compareView(d, app) {
    var st = state(), s = d.summary;
    function set(k, v) { var x = state(); x[k] = v; x.page = ""; setState(x); }
    app.textContent = "";
    var head = el("div", {"class": "summary"});
    head.appendChild(el("p", {}, "A: " + d.a + "   B: " + d.b + "   (" + s.n + " samples answered by both)"));
    if (s.acc) {
      head.appendChild(el("p", {}, "accuracy A " + pct(s.acc_a) + " → B " + pct(s.acc_b) + ": change " +
        signed(s.acc.diff, pct) + " (95% paired bootstrap " + signed(s.acc.lo, pct) + " to " + signed(s.acc.hi, pct) +
        ", p = " + (s.acc.p === null ? "—" : s.acc.p.toFixed(3)) + ")"));
    }
    if (s.km) head.appendChild(el("p", {}, "mean error change B − A: " + signed(s.km.diff, km) + " (95% " + signed(s.km.lo, km) +
      " to " + signed(s.km.hi, km) + ", p = " + (s.km.p === null ? "—" : s.km.p.toFixed(3)) + "; unparsed answers count as 20,037.5 km)"));
    head.appendChild(el("p", {"class": "flips"}, "right → wrong: " + s.rw + "   wrong → right: " + s.wr));
    if (d.note) head.appendChild(el("p", {"class": "note"}, d.note));
    app.appendChild(head);
    var bar = el("div", {"class": "controls"});
    bar.appendChild(select("show", "flip", [["", "all paired samples"], ["rw", "right → wrong"], ["wr", "wrong → right"],
      ["changed", "answer changed"], ["same", "same outcome"]], st, set));
    if (d.kind === "geolocation") bar.appendChild(select("sort", "sort", [["", "document order"], ["d_desc", "error grew most"], ["d_asc", "error shrank most"]], st, set));
    app.appendChild(bar);
    var rows = d.rows.filter(function (r) {
      if (st.flip === "rw") return r.a === 1 && r.b === 0;
      if (st.flip === "wr") return r.a === 0 && r.b === 1;
      if (st.flip === "changed") return r.pa !== r.pb;
      if (st.flip === "same") return r.a === r.b;
      return true;
    });
    if (st.sort === "d_desc" || st.sort === "d_asc") {
      var sign = st.sort === "d_desc" ? -1 : 1;
      rows = rows.slice().sort(function (x, y) { return sign * ((x.d || 0) - (y.d || 0)); });
    }
    var pages = Math.max(1, Math.ceil(rows.length / PAGE)), page = Math.min(pages, Math.max(1, parseInt(st.page, 10) || 1));
    app.appendChild(el("p", {"class": "count", id: "gb-count"}, rows.length + " of " + d.rows.length + " paired samples"));
    var tbl = el("table", {"class": "cmp", id: "gb-compare-table"}), hr = el("tr", {});
    ["sample", "truth", "A answer", "B answer"].concat(d.kind === "geolocation" ? ["A error", "B error", "change"] : ["A", "B"])
      .forEach(function (h) { hr.appendChild(el("th", {}, h)); });
    tbl.appendChild(hr);
    function mark(ok, u) { return u ? "unparsed" : ok === 1 ? "✓" : ok === 0 ? "✗" : ""; }
    rows.slice((page - 1) * PAGE, page * PAGE).forEach(function (r) {
      var tr = el("tr", {"class": r.a === 1 && r.b === 0 ? "rw" : r.a === 0 && r.b === 1 ? "wr" : ""});
      var td = el("td", {});
      td.appendChild(el("span", {}, r.i + " "));
      if (safeName(d.page_a)) td.appendChild(el("a", {href: d.page_a + "#id=" + encodeURIComponent(r.i)}, "A"));
      td.appendChild(document.createTextNode(" "));
      if (safeName(d.page_b)) td.appendChild(el("a", {href: d.page_b + "#id=" + encodeURIComponent(r.i)}, "B"));
      tr.appendChild(td);
      tr.appendChild(el("td", {}, r.t || "—"));
      tr.appendChild(el("td", {}, (r.pa || "∅") + " " + mark(r.a, r.ua)));
      tr.appendChild(el("td", {}, (r.pb || "∅") + " " + mark(r.b, r.ub)));
      if (d.kind === "geolocation") {
        tr.appendChild(el("td", {}, km(r.ka))); tr.appendChild(el("td", {}, km(r.kb)));
        tr.appendChild(el("td", {}, signed(r.d, km)));
      } else { tr.appendChild(el("td", {}, mark(r.a, r.ua))); tr.appendChild(el("td", {}, mark(r.b, r.ub))); }
      tbl.appendChild(tr);
    });
    app.appendChild(tbl);
    var nav = el("div", {"class": "pager"}), prev = el("button", {type: "button"}, "← previous"), next = el("button", {type: "button"}, "next →");
    prev.disabled = page <= 1; next.disabled = page >= pages;
    prev.addEventListener("click", function () { set("page", String(page - 1)); });
    next.addEventListener("click", function () { set("page", String(page + 1)); });
    nav.appendChild(prev); nav.appendChild(el("span", {}, " page " + page + " of " + pages + " ")); nav.appendChild(next);
    app.appendChild(nav);
  }

  // --------------------------------------------------------------------------------------------- index
  function indexView() {
    var sel = document.getElementById("gb-compare"), go = document.getElementById("gb-compare-go");
    if (!sel || !go) return;
    go.addEventListener("click", function () { if (/^compare-[A-Za-z0-9_.-]+\.html$/.test(sel.value)) location.href = sel.value; });
  }

  var node = document.getElementById("gb-data"), app = document.getElementById("app");
  if (!node || !app) { indexView(); return; }
  var data = JSON.parse(node.textContent);
  var render = function () { (data.view === "compare" ? compareView : samplesView)(data, app); if (state().id) window.scrollTo(0, 0); };
  window.addEventListener("hashchange", render);
  render();
})();
