/* bedflow live page: vanilla JS, no build step, no external resources.
 *
 * Talks to /api/v1/{reference,status,out-of-area,waitlist,room-nearby,deadletters} and /report/morning with a bearer
 * token kept in sessionStorage, always in the Authorization header (the API refuses it in a URL). The
 * region table, the thresholds and who is looking come from /api/v1/reference (loaded once after login).
 * Re-fetches every 5 s (pausable) and updates the panels in place, keeping the drill-down position, keyboard
 * focus and a screen reader's place (see update()).
 *
 * DOM hooks for tests: rows carry data-id, numeric cells data-field (+ data-value = raw JSON value,
 * empty string for null). See index.html for panel ids.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "bedflow.token";
  var I18N = window.bedflowI18n;  // the one dictionary (i18n.js): every text below comes from it
  var T = I18N.t;
  var REFRESH_MS = 5000;

  // Reference data and thresholds from the API (schemas/reference and the view policy): filled by
  // loadReference() before the first render.
  var REF = null;
  var REGIONS = [];      // [code, short name] in reference order
  var REGION_NAME = {};
  var REGION_HR = {};

  function setReference(ref) {
    REF = ref;
    REGIONS = ref.regions.map(function (r) { return [r.code, r.short_name]; });
    REGION_NAME = {};
    REGION_HR = {};
    ref.regions.forEach(function (r) { REGION_NAME[r.code] = r.short_name; REGION_HR[r.code] = r.healthcare_regions; });
  }

  // Counts 1..threshold are hidden (null) by the API: shown as "<threshold+1".
  function smallLabel() { return "<" + ((REF ? REF.small_count_threshold : 4) + 1); }


  var COUNT_FIELDS = {
    staffed_beds: 1, occupied: 1, present: 1, on_leave: 1, overcrowded: 1, outliers: 1,
    discharge_ready: 1, out_of_area_in: 1, out_of_area_out: 1, out_of_area_in_census: 1, waiting: 1, patients: 1,
    le_30: 1, le_60: 1, le_90: 1, le_180: 1, gt_180: 1
  };

  // ---------------------------------------------------------------- state
  var state = {
    // drill-down stack; each entry: {level, label, hr?, region?, hospital?}
    path: [{ level: "nation", labelKey: "nation.name" }],  // labelKey: a dictionary text, label: a unit's name
    window: "now",
    waitRegion: "01",
    waitPhase: "",
    roomRegion: "01",  // the need / offer panel's region and kind of bed
    roomKind: "somatic",
    seq: 0,          // bumps whenever the view changes; stale responses are dropped
    timer: null,
    paused: false,   // the automatic refresh, paused by the viewer
    focusAfterDrill: false,
    lastOk: null,
    failing: false
  };

  // ---------------------------------------------------------------- helpers
  function $(id) { return document.getElementById(id); }

  function esc(s) {
    return String(s == null ? "" : s)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function isNum(v) { return typeof v === "number" && isFinite(v); }

  function fmtInt(v) {
    if (!isNum(v)) return null;
    var s = Math.round(v).toLocaleString("sv-SE");
    return s.replace(/\u2212/g, "-");
  }

  // Display text for a field value: null -> "<N" for suppressed counts, "–" otherwise.
  function fmtField(field, v) {
    if (v === null || v === undefined) return COUNT_FIELDS[field] ? smallLabel() : "–";
    if (field === "occupancy_pct") return isNum(v) ? I18N.decimal(v, 1) + " %" : "–";
    if (field === "share_within_limit" || field === "share_over_180" || field === "coverage") {
      if (!isNum(v)) return "–";
      var pct = v <= 1.0001 ? v * 100 : v; // accept 0..1 or 0..100
      return Math.round(pct) + " %";
    }
    if (isNum(v)) return fmtInt(v);
    return esc(v);
  }

  function rawAttr(v) { return v === null || v === undefined ? "" : String(v); }

  // ---------------------------------------------------------------- in-place updates
  // The refresh must not move keyboard focus, a text selection or a screen reader's position (WCAG 2.4.3,
  // 2.2.2): new markup is parsed off-document and merged into the live nodes, which are kept wherever
  // tag and key (data-id) match; only changed text and attributes are written.
  function sameNode(o, n) {
    if (o.nodeType !== n.nodeType || o.nodeName !== n.nodeName) return false;
    return o.nodeType !== 1 || o.getAttribute("data-id") === n.getAttribute("data-id");
  }

  function morphNode(o, n) {
    if (o.nodeType !== 1) {
      if (o.nodeValue !== n.nodeValue) o.nodeValue = n.nodeValue;
      return;
    }
    var i, a;
    for (i = 0; i < n.attributes.length; i++) {
      a = n.attributes[i];
      if (o.getAttribute(a.name) !== a.value) o.setAttribute(a.name, a.value);
    }
    for (i = o.attributes.length - 1; i >= 0; i--) {
      a = o.attributes[i];
      if (!n.hasAttribute(a.name)) o.removeAttribute(a.name);
    }
    morphChildren(o, n);
  }

  function morphChildren(oldEl, newEl) {
    var o = oldEl.firstChild, n = newEl.firstChild;
    while (n) {
      var next = n.nextSibling;
      if (o && !sameNode(o, n) && n.nodeType === 1 && n.hasAttribute("data-id")) {
        // a keyed row further down (rows inserted above it): bring it up rather than rebuild the rest
        for (var s = o.nextSibling; s; s = s.nextSibling) {
          if (sameNode(s, n)) { oldEl.insertBefore(s, o); o = s; break; }
        }
      }
      if (o && sameNode(o, n)) { morphNode(o, n); o = o.nextSibling; }
      else if (o) { var gone = o; o = o.nextSibling; oldEl.replaceChild(n, gone); }
      else oldEl.appendChild(n);
      n = next;
    }
    while (o) { var x = o.nextSibling; oldEl.removeChild(o); o = x; }
  }

  // Replace el's content by html, keeping every node that survives.
  function update(el, html) {
    var tmp = el.cloneNode(false);
    tmp.innerHTML = html;
    morphChildren(el, tmp);
  }

  // <span data-field=... data-value=...>text</span>
  function cell(field, v, extraCls) {
    var suppressed = (v === null || v === undefined);
    var cls = "v" + (suppressed ? " suppressed" : "") + (extraCls ? " " + extraCls : "");
    var title = suppressed ? ' title="' + esc(T(COUNT_FIELDS[field] ? "cell.small" : "cell.na")) + '"' : "";
    return '<span class="' + cls + '" data-field="' + field + '" data-value="' + esc(rawAttr(v)) + '"' + title + ">" +
      fmtField(field, v) + "</span>";
  }

  function setField(el, field, v) {
    el.setAttribute("data-value", rawAttr(v));
    el.textContent = fmtField(field, v);
    el.classList.toggle("suppressed", v === null || v === undefined);
  }

  // Occupancy colours follow the escalation thresholds of the config (the one rule).
  function occClass(p) {
    if (!isNum(p) || !REF) return "occ-na";
    var e = REF.escalation;
    if (p >= e.level4_occupancy_pct) return "occ-over";
    if (p >= e.level3_occupancy_pct) return "occ-high";
    if (p >= e.level2_occupancy_pct) return "occ-mid";
    return "occ-ok";
  }

  function occBar(p) {
    // Scale 0..120 %, with a marker at 100 %.
    var w = isNum(p) ? Math.max(0, Math.min(p, 120)) / 120 * 100 : 0;
    return '<div class="occbar ' + occClass(p) + '" title="' + (isNum(p) ? p.toFixed(1) + " %" : "–") + '">' +
      '<svg viewBox="0 0 120 14" preserveAspectRatio="none" aria-hidden="true">' +
      '<rect x="0" y="2" width="120" height="10" rx="2" class="track"></rect>' +
      '<rect x="0" y="2" width="' + (w * 1.2).toFixed(2) + '" height="10" rx="2" class="fill"></rect>' +
      '<line x1="100" x2="100" y1="0" y2="14" class="mark"></line>' +
      "</svg>" + cell("occupancy_pct", p, "pct") + "</div>";
  }

  function badge(level, rule) {
    var l = isNum(level) ? Math.max(1, Math.min(4, Math.round(level))) : null;
    var title = (l ? T("esc.level", { l: l, name: T("esc." + l) }) : T("esc.none")) + (rule ? "\n" + ruleText(rule) : "");
    return '<span class="badge esc-' + (l || "na") + '" data-field="escalation_level" data-value="' +
      esc(rawAttr(level)) + '" data-rule="' + esc(rule || "") + '" title="' + esc(title) + '">' +
      (l ? l : "–") + "</span>";
  }

  // The API states the escalation rule that fired in a fixed form ("occupancy 97.0 % ≥ 90 %",
  // "overcrowded 3.1/100 beds ≥ 2"): said again in the chosen language from the shared dictionary (the
  // report does the same in web/texts.py rule_text); anything else as the API's "sv / en".
  function ruleText(rule) {
    var m = /^occupancy ([\d.]+) % ([≥<]) ([\d.]+) %$/.exec(rule);
    if (m) return T("rule.occ", { v: I18N.decimal(m[1], 1), op: m[2], t: m[3].replace(".", I18N.lang() === "sv" ? "," : ".") });
    m = /^overcrowded ([\d.]+)\/100 beds ([≥<]) ([\d.]+)$/.exec(rule);
    if (m) return T("rule.over", { v: I18N.decimal(m[1], 1), op: m[2], t: m[3].replace(".", I18N.lang() === "sv" ? "," : ".") });
    return I18N.pick(rule);
  }

  function age(iso) {
    if (!iso) return "–";
    var t = Date.parse(iso);
    if (isNaN(t)) return esc(iso);
    var s = Math.max(0, (Date.now() - t) / 1000);
    if (s < 60) return Math.round(s) + " s";
    if (s < 3600) return Math.round(s / 60) + " min";
    if (s < 86400) return Math.round(s / 3600) + " h";
    return Math.round(s / 86400) + " d";
  }

  function clock(iso) {
    var t = iso ? new Date(iso) : new Date();
    if (isNaN(t.getTime())) return esc(iso);
    return I18N.fmt("dateTime", t);
  }

  // ---------------------------------------------------------------- API
  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function Unauthorized() { this.name = "Unauthorized"; }

  // An API error: {"error": "sv / en", "code": key, "params": {...}}, kept whole for a later toggle and said
  // in the chosen language: from the shared dictionary by its key, else the chosen part of the pair.
  function ApiError(path, status, body) {
    body = body || {};
    this.name = "ApiError"; this.path = path; this.status = status; this.text = body.error || "";
    this.code = body.code || null; this.params = body.params || {};
    this.message = path + ": HTTP " + status + (this.text ? " – " + this.text : "");
  }

  function apiErrorText(err) {
    if (err instanceof ApiError) {
      var said = err.code && I18N.dict.sv[err.code] !== undefined ? T(err.code, err.params) : I18N.pick(err.text);
      return T("err.http", { path: err.path, status: err.status }) + (said ? " – " + said : "");
    }
    return String(err && err.message || err);
  }

  function failed(path, r) {
    return r.json().then(function (b) { return b && typeof b === "object" ? b : {}; }, function () { return {}; })
      .then(function (body) { throw new ApiError(path, r.status, body); });
  }

  function api(path) {
    return fetch(path, {
      headers: { "Authorization": "Bearer " + (token() || ""), "Accept": "application/json" },
      cache: "no-store"
    }).then(function (r) {
      if (r.status === 401) throw new Unauthorized();
      if (!r.ok) return failed(path, r);
      return r.json();
    });
  }

  // The morning report is a whole page. It is fetched with the bearer header like every call (a token in
  // its URL would end up in history, proxy and access logs) and shown from a blob URL, in a window
  // opened on the click itself (one opened after the fetch would be blocked as a pop-up).
  function openReport() {
    var win = window.open("", "_blank");
    var day = $("report-date").value;
    return fetch("/report/morning" + (day ? "?date=" + encodeURIComponent(day) : ""), {
      headers: { "Authorization": "Bearer " + (token() || ""), "Accept": "text/html" },
      cache: "no-store"
    }).then(function (r) {
      if (r.status === 401) throw new Unauthorized();
      if (!r.ok) return failed("/report/morning", r);
      return r.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      if (win) win.location.href = url; else window.location.href = url;
      setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
    }).catch(function (err) {
      if (win) win.close();
      handleError(err);
    });
  }

  // ---------------------------------------------------------------- login
  function showLogin(msgKey) {
    stopRefresh();
    $("app").hidden = true;
    $("login").hidden = false;
    var e = $("login-error");
    if (msgKey) { e.setAttribute("data-i18n", msgKey); e.textContent = T(msgKey); e.hidden = false; } else { e.hidden = true; }
    var inp = $("token-input");
    inp.value = "";
    setTimeout(function () { inp.focus(); }, 0);
  }

  function showApp() {
    loadReference().then(function () {
      $("login").hidden = true;
      $("app").hidden = false;
      refreshAll();
      startRefresh();
    }, handleError);
  }

  // The region table and thresholds, and who is looking: a region viewer's waiting list shows its own
  // region only (the API refuses the others).
  function loadReference() {
    return api("/api/v1/reference").then(function (ref) {
      setReference(ref);
      var mine = ref.viewer && ref.viewer.region;
      var choices = mine ? REGIONS.filter(function (r) { return r[0] === mine; }) : REGIONS;
      if (mine || !REGION_NAME[state.waitRegion]) state.waitRegion = choices[0][0];
      var sel = $("waitlist-region");
      sel.innerHTML = choices.map(function (r) {
        return '<option value="' + r[0] + '">' + r[0] + " " + esc(r[1]) + "</option>";
      }).join("");
      sel.value = state.waitRegion;
      // the need / offer panel: a region viewer asks about its own region (the API refuses the others)
      if (mine || !REGION_NAME[state.roomRegion]) state.roomRegion = choices[0][0];
      var rs = $("room-region");
      rs.innerHTML = sel.innerHTML;
      rs.value = state.roomRegion;
    });
  }

  function handleError(err) {
    if (err instanceof Unauthorized) {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin("login.invalid");
      return;
    }
    state.failing = true;
    state.lastError = err;
    renderRefreshStatus(err);
    if (window.console) console.warn("bedflow:", err);
  }

  // ---------------------------------------------------------------- status / drill-down
  function current() { return state.path[state.path.length - 1]; }

  function statusUrl(view) {
    var q = "level=" + encodeURIComponent(view.level);
    if (view.region) q += "&region=" + encodeURIComponent(view.region);
    if (view.hospital) q += "&hospital=" + encodeURIComponent(view.hospital);
    return "/api/v1/status?" + q;
  }

  function hrOf(row) {
    var h = row.healthcare_region != null ? row.healthcare_region : row.healthcare_regions;
    if (Array.isArray(h)) return h;
    if (typeof h === "string" && h) return h.split("|");
    return REGION_HR[row.id] || [];
  }

  function filterRows(view, rows) {
    if (view.level === "region" && view.hr) {
      return rows.filter(function (r) {
        var hrs = hrOf(r);
        return hrs.indexOf(view.hr) >= 0 || (view.hrName && hrs.indexOf(view.hrName) >= 0);
      });
    }
    return rows;
  }

  function childOf(view, row) {
    var name = row.name || row.id;
    switch (view.level) {
      case "nation": return { level: "healthcare_region", labelKey: "level.healthcare_region" };
      case "healthcare_region": return { level: "region", hr: String(row.id), hrName: row.name, label: name };
      case "region": return { level: "hospital", region: String(row.id), label: name };
      case "hospital": return { level: "ward", hospital: String(row.id), region: current().region, label: name };
      default: return null;
    }
  }

  function renderBreadcrumb() {
    var html = state.path.map(function (p, i) {
      var last = i === state.path.length - 1;
      var label = p.labelKey ? T(p.labelKey) : p.label;
      return last
        ? '<span class="crumb current" tabindex="-1" aria-current="location" data-depth="' + i + '" data-level="' + p.level + '">' + esc(label) + "</span>"
        : '<a href="#" class="crumb" data-depth="' + i + '" data-level="' + p.level + '">' + esc(label) + "</a>";
    }).join('<span class="sep">›</span>');
    $("breadcrumb").innerHTML = html;
  }

  // Hospital and ward levels need the capacity-detail grant (reference: viewer.detail), and a region viewer
  // holds it for its own region only: a row is drillable only where the API will answer (never a 403).

  function canDrill(view, r) {
    if (view.level === "ward") return false;
    if (view.level !== "region") return true;
    var viewer = (REF && REF.viewer) || {};
    return viewer.detail === true && (!viewer.region || String(r.id) === viewer.region);
  }

  // The nation's name is the dictionary's (the API says "Sverige"); every other unit's is its own.
  function unitName(view, r) { return view.level === "nation" ? T("nation.name") : (r.name || r.id); }

  function rowHtml(view, r) {
    var drill = canDrill(view, r);
    var cls = ["row"];
    if (r.stale) cls.push("stale");
    if (drill) cls.push("drill");
    else if (view.level === "region") cls.push("no-detail");
    var cov = isNum(r.coverage) && r.coverage < 1 && view.level !== "ward"
      ? '<span class="cov-tag" title="' + esc(T("row.coverage.title")) + '">' + esc(T("row.coverage", { p: Math.round(r.coverage * 100) })) +
        "</span>" : "";
    var staleTag = r.stale ? '<span class="stale-tag" title="' + esc(T("row.stale.title", { n: REF.stale_after_minutes })) + '">' +
      esc(T("row.stale")) + "</span>" : "";
    // Free beds and overcrowding are each summed over the wards (never netted): both are shown, and the
    // overcrowding is marked when it is more than the unit's own free beds.
    var free = r.free_beds;
    var short = isNum(r.overcrowded) && isNum(free) && r.overcrowded > free;
    // Census-only wards report out-of-area patients without home regions: apart from in / out, which balance.
    var census = r.out_of_area_in_census;
    var censusHtml = census === 0 || census === undefined ? "" :
      '<div class="sub" title="' + esc(T("row.census.title")) + '">' +
      esc(T("row.census")) + " " + cell("out_of_area_in_census", census) + "</div>";
    // A drillable unit's name is a button: reachable with Tab, opened with Enter or Space, named by its text.
    return '<tr class="' + cls.join(" ") + '" data-id="' + esc(r.id) + '" data-level="' + view.level + '"' +
      (r.stale ? ' data-stale="true"' : "") + (drill ? ' title="' + esc(T("row.drill")) + '"' : view.level === "region" ? ' title="' + esc(T("row.nodetail")) + '"' : "") + ">" +
      '<td class="name"><div class="unit-name" data-field="name">' +
        (drill ? '<button type="button" class="drill-link">' + esc(unitName(view, r)) + "</button>" : esc(unitName(view, r))) + "</div>" +
        '<div class="unit-meta">' + staleTag + cov +
        '<span class="last" title="' + esc(T("row.last.title", { t: r.last_event_at ? clock(r.last_event_at) : "–" })) + '">' +
        esc(T("row.last")) + ' <span data-field="last_event_at" data-value="' + esc(rawAttr(r.last_event_at)) + '">' +
        age(r.last_event_at) + "</span></span>" +
        '<span class="coverage-raw" data-field="coverage" data-value="' + esc(rawAttr(r.coverage)) + '" hidden></span></div></td>' +
      '<td class="num big">' + cell("staffed_beds", r.staffed_beds) + "</td>" +
      '<td class="num big">' + cell("occupied", r.occupied) +
        '<div class="sub">' + esc(T("row.present")) + " " + cell("present", r.present) + " · " + esc(T("row.leave")) + " " +
        cell("on_leave", r.on_leave) + "</div></td>" +
      '<td class="num big">' + cell("free_beds", free) + "</td>" +
      '<td class="occ">' + occBar(r.occupancy_pct) + sparkHtml(view, r) + "</td>" +
      '<td class="num' + (short ? " neg" : "") + '">' + cell("overcrowded", r.overcrowded, isNum(r.overcrowded) && r.overcrowded > 0 ? "warn" : "") + "</td>" +
      '<td class="num">' + cell("outliers", r.outliers) + "</td>" +
      '<td class="num">' + cell("discharge_ready", r.discharge_ready) + "</td>" +
      '<td class="num inout">' + cell("out_of_area_in", r.out_of_area_in) + ' <span class="muted">/</span> ' +
        cell("out_of_area_out", r.out_of_area_out) + censusHtml + "</td>" +
      '<td class="esc">' + badge(r.escalation_level, r.escalation_rule) + "</td>" +
      "</tr>";
  }

  function renderStatus(view, data) {
    lastStatus = { view: view, data: data };
    var rows = filterRows(view, (data && data.rows) || []);
    var body = $("status-body");
    if (!rows.length) {
      update(body, '<tr><td colspan="10" class="empty">' + esc(T("row.empty")) + "</td></tr>");
    } else {
      update(body, rows.map(function (r) { return rowHtml(view, r); }).join(""));
    }
    $("status-table").setAttribute("data-level", view.level);
    // After a drill-down with the keyboard, focus goes to the new level's name (not lost to the page).
    if (state.focusAfterDrill) {
      state.focusAfterDrill = false;
      var cur = $("breadcrumb").querySelector(".crumb.current");
      if (cur) cur.focus();
    }
  }

  function renderNation(data) {
    lastNation = data;
    var r = (data && data.rows && data.rows[0]) || {};
    var box = $("nation-totals");
    box.setAttribute("data-id", rawAttr(r.id));
    ["staffed_beds", "occupied", "free_beds", "occupancy_pct", "overcrowded", "outliers", "discharge_ready"]
      .forEach(function (f) {
        var el = box.querySelector('[data-field="' + f + '"]');
        if (el) setField(el, f, r[f]);
      });
    var e = box.querySelector('[data-field="escalation_level"]');
    if (e) {
      var t = document.createElement("div");
      t.innerHTML = badge(r.escalation_level, r.escalation_rule).replace('class="badge', 'class="t-value badge big');
      morphNode(e, t.firstChild);
    }
    var oc = box.querySelector('[data-field="overcrowded"]');
    if (oc) oc.classList.toggle("neg", isNum(r.overcrowded) && isNum(r.free_beds) && r.overcrowded > r.free_beds);
    var occ = box.querySelector('[data-field="occupancy_pct"]');
    if (occ) occ.className = "t-value " + occClass(r.occupancy_pct) + "-text";
    var cov = r.coverage;
    var covEl = $("coverage");
    covEl.removeAttribute("data-i18n");  // the placeholder text until the first answer
    update(covEl, esc(T("coverage.head")) + '<strong data-field="coverage" data-value="' + esc(rawAttr(cov)) + '">' +
      (isNum(cov) ? Math.round(cov * 100) + " %" : "–") + "</strong>" + esc(T("coverage.tail")));
    covEl.className = "coverage" + (isNum(cov) && cov < 0.9 ? " low" : "");
  }

  function loadStatus() {
    var seq = state.seq;
    var view = current();
    var jobs = [api("/api/v1/status?level=nation")];
    if (view.level !== "nation") jobs.push(api(statusUrl(view)));
    return Promise.all(jobs).then(function (res) {
      if (seq !== state.seq) return; // view changed while loading
      renderNation(res[0]);
      renderStatus(view, res[1] || res[0]);
    });
  }

  function drillTo(newPath) {
    var a = document.activeElement;
    state.focusAfterDrill = !!(a && a !== document.body && ($("status-panel").contains(a)));
    state.path = newPath;
    state.seq++;
    renderBreadcrumb();
    loadSparks(true).catch(handleError);
    $("status-body").innerHTML = '<tr><td colspan="10" class="empty">' + esc(T("loading")) + "</td></tr>";
    loadStatus().then(okTick, handleError);
  }

  function onStatusClick(ev) {
    var sb = ev.target.closest(".spark-btn");
    if (sb) {  // a row's sparkline: its unit in the trend chart (no drill-down)
      var v = current();
      setRange(sb.getAttribute("data-range") || trend.range);
      selectTrend({ level: v.level, id: sb.getAttribute("data-trend-id"), name: sb.getAttribute("data-name"),
                    region: v.region || null });
      return;
    }
    var tr = ev.target.closest("tr.drill");
    if (!tr) return;
    var view = current();
    var id = tr.getAttribute("data-id");
    var name = (tr.querySelector(".unit-name") || {}).textContent || id;
    var next = childOf(view, { id: id, name: name });
    if (next) drillTo(state.path.concat([next]));
  }

  // ---------------------------------------------------------------- trends (issue 13)
  // Sparklines (occupancy, last 24 h and last 7 days) per row of the status table and a larger chart of one
  // unit (24 h or 7 d), from /api/v1/status/history: the viewer's scope and suppression as in the table (a
  // hidden point is null: a gap). Fetched when the view changes and then once a minute, not on every
  // 5-second tick. Both sparklines come from one hourly answer over 7 days (169 points): the 24 h one is
  // its last 25, the same points an hourly 24 h answer has (both end now), so a view costs one request.
  var TREND_EVERY_MS = 60000;
  var DAY_POINTS = 25;
  // from = 7 d and half an hour ago: 169 hourly points even when this clock is a little ahead of the server's
  var WEEK_MS = 7 * 86400000 + 30 * 60000;
  var sparks = { key: null, at: 0, series: {} };
  var trend = { level: "nation", id: "SE", name: null, region: null, range: "24h", key: null, at: 0 };
  var lastStatus = null;  // the status table's last answer: redrawn (merged) when its sparklines arrive
  // The other panels' last answers: redrawn in the other language when the viewer switches.
  var lastNation = null, lastHeat = null, lastWait = null, lastDead = null, lastTrend = null;

  // The nation's name is the dictionary's; a region's, hospital's or ward's is the data's own.
  function trendName() { return trend.level === "nation" || !trend.name ? T("nation.name") : trend.name; }

  function fmtPct(v) { return isNum(v) ? I18N.decimal(v, 1) + " %" : "–"; }

  function finite(vals) { return vals.filter(isNum); }

  // An SVG path through the points, broken where a value is null (no data, or hidden).
  function linePath(vals, x, y) {
    var d = [], pen = false;
    vals.forEach(function (v, i) {
      if (!isNum(v)) { pen = false; return; }
      d.push((pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1));
      pen = true;
    });
    return d.join(" ");
  }

  function valuesAttr(vals) { return vals.map(function (v) { return v == null ? "" : String(v); }).join(","); }

  function sparkSummary(vals, headKey) {
    var f = finite(vals), now = vals.length ? vals[vals.length - 1] : null;
    var head = T(headKey || "spark.occ24") + ": ";
    if (!f.length) return head + T("spark.novalues");
    return head + T("spark.minmax", { lo: fmtPct(Math.min.apply(null, f)), hi: fmtPct(Math.max.apply(null, f)),
                                      now: isNum(now) ? fmtPct(now) : T("spark.hidden") });
  }

  // A row's two sparklines (24 h, 7 d): each a button (it shows the unit in the chart over its period) named
  // by the unit and min / max / now.
  function sparkHtml(view, r) {
    var s = sparks.key === statusUrl(view) ? sparks.series[r.id] : null;
    var week = s ? s.occupancy_pct : [];
    return '<div class="sparks">' + sparkButton(view, r, "24h", week.slice(-DAY_POINTS), !!s) +
      sparkButton(view, r, "7d", week, !!s) + "</div>";
  }

  function sparkButton(view, r, range, vals, known) {
    var f = finite(vals);
    var W = 76, Hh = 20, top = Math.max(110, f.length ? Math.max.apply(null, f) : 0);
    var x = function (i) { return vals.length > 1 ? 2 + i * (W - 4) / (vals.length - 1) : W / 2; };
    var y = function (v) { return Hh - 2 - Math.max(0, v) / top * (Hh - 4); };
    var name = unitName(view, r);
    var head = range === "7d" ? "spark.occ7d" : "spark.occ24";  // the period: the visible tag is in the name
    var label = T("trend.show", { name: name }) + ". " + (known ? sparkSummary(vals, head) : T(head));
    return '<button type="button" class="spark-btn" data-trend-id="' + esc(r.id) + '" data-name="' + esc(name) + '"' +
      ' data-range="' + range + '" data-values="' + esc(valuesAttr(vals)) + '" aria-label="' + esc(label) + '" title="' +
      esc(label) + '"><span class="spark-tag" aria-hidden="true">' + esc(T(range === "7d" ? "spark.tag7d" : "spark.tag24h")) +
      "</span>" +
      '<svg class="spark" viewBox="0 0 ' + W + " " + Hh + '" width="' + W + '" height="' + Hh + '" aria-hidden="true" focusable="false">' +
      '<line class="spark-100" x1="0" x2="' + W + '" y1="' + y(100).toFixed(1) + '" y2="' + y(100).toFixed(1) + '"></line>' +
      '<path class="spark-line" d="' + linePath(vals, x, y) + '"></path>' +
      (f.length && isNum(vals[vals.length - 1]) ? '<circle class="spark-now" r="2.2" cx="' + x(vals.length - 1).toFixed(1) +
        '" cy="' + y(vals[vals.length - 1]).toFixed(1) + '"></circle>' : "") +
      "</svg></button>";
  }

  function loadSparks(force) {
    var view = current(), key = statusUrl(view);
    if (!force && sparks.key === key && Date.now() - sparks.at < TREND_EVERY_MS) return Promise.resolve();
    var from = new Date(Date.now() - WEEK_MS).toISOString();
    return api(key.replace("/api/v1/status?", "/api/v1/status/history?") + "&from=" + encodeURIComponent(from) +
               "&step=60").then(function (d) {
      if (key !== statusUrl(current())) return;  // the view changed meanwhile
      var by = {};
      (d.series || []).forEach(function (s) { by[s.id] = s; });
      sparks = { key: key, at: Date.now(), series: by };
      if (lastStatus && statusUrl(lastStatus.view) === key) renderStatus(lastStatus.view, lastStatus.data);
    });
  }

  // The chart's period, and its buttons' pressed state (a sparkline chooses its own period too).
  function setRange(range) {
    trend.range = range;
    Array.prototype.forEach.call($("trend-range").querySelectorAll("button[data-range]"), function (x) {
      var on = x.getAttribute("data-range") === range;
      x.classList.toggle("active", on);
      x.setAttribute("aria-pressed", String(on));
    });
  }

  function selectTrend(unit) {
    trend.level = unit.level; trend.id = String(unit.id); trend.name = unit.name || unit.id;
    trend.region = unit.region;
    $("trend-unit").textContent = trendName();
    return loadTrend(true).catch(handleError);
  }

  function trendQuery() {
    var q = "level=" + encodeURIComponent(trend.level) + "&id=" + encodeURIComponent(trend.id);
    if (trend.region && (trend.level === "hospital" || trend.level === "ward")) q += "&region=" + encodeURIComponent(trend.region);
    return q;
  }

  function trendUrl() {
    return "/api/v1/status/history?" + trendQuery() + (trend.range === "7d" ? "&from=" +
      encodeURIComponent(new Date(Date.now() - WEEK_MS).toISOString()) + "&step=60" : "&step=15");
  }

  // The trend table's download: the points on screen (the shown answer's from, to and step), not a newer set.
  function trendExportUrl() {
    var d = lastTrend;
    if (!d || !d.from || trend.key !== trend.level + "|" + trend.id + "|" + trend.range) return trendUrl();
    return "/api/v1/status/history?" + trendQuery() + "&from=" + encodeURIComponent(d.from) + "&to=" +
      encodeURIComponent(d.to) + "&step=" + encodeURIComponent(d.step_minutes);
  }

  function loadTrend(force) {
    var key = trend.level + "|" + trend.id + "|" + trend.range;
    if (!force && trend.key === key && Date.now() - trend.at < TREND_EVERY_MS) return Promise.resolve();
    return api(trendUrl()).then(function (d) {
      if (key !== trend.level + "|" + trend.id + "|" + trend.range) return;
      trend.key = key; trend.at = Date.now();
      renderTrend(d);
    });
  }

  function timeLabel(iso, week) {
    var t = new Date(iso);
    return week ? I18N.fmt("dm", t) + " " + I18N.fmt("hm", t) : I18N.fmt("hm", t);
  }

  function countSummary(labelKey, vals) {
    var f = finite(vals), now = vals.length ? vals[vals.length - 1] : null;
    if (!f.length) return T(labelKey) + ": –";
    return T("count.minmax", { label: T(labelKey), hi: fmtInt(Math.max.apply(null, f)), now: isNum(now) ? fmtInt(now) : "–" });
  }

  // The chart: occupancy (%, with the 100 % line) above, the escalation level as a strip, overcrowded and
  // discharge-ready (patients) below; its text alternative sums it up, the table holds every point.
  function renderTrend(d) {
    lastTrend = d;
    var s = (d.series || [])[0] || null;
    var times = d.times || [];
    var n = times.length, week = trend.range === "7d";
    var get = function (f) { return s ? s[f] : times.map(function () { return null; }); };
    var occ = get("occupancy_pct"), over = get("overcrowded"), ready = get("discharge_ready"), lvl = get("escalation_level");
    var W = 720, L = 52, R = 16, TOP = 10, PH = 120, SY = TOP + PH + 8, SH = 10, CY = SY + SH + 14, CH = 70, H = CY + CH + 24;
    var pw = W - L - R;
    var x = function (i) { return L + (n > 1 ? i * pw / (n - 1) : pw / 2); };
    var fo = finite(occ), occTop = Math.max(110, Math.ceil((fo.length ? Math.max.apply(null, fo) : 0) / 10) * 10);
    var yo = function (v) { return TOP + PH - Math.max(0, v) / occTop * PH; };
    var fc = finite(over.concat(ready)), cTop = Math.max(4, fc.length ? Math.max.apply(null, fc) : 0);
    var yc = function (v) { return CY + CH - Math.max(0, v) / cTop * CH; };
    var period = T(week ? "trend.7d" : "trend.24h"), name = trendName();
    var label = name + ", " + period + ". " + sparkSummary(occ, "spark.occ") + ". " +
      countSummary("f.overcrowded", over) + ". " + countSummary("f.ready", ready) + ". " + T("trend.all");
    var g = ['<svg id="trend-svg" viewBox="0 0 ' + W + " " + H + '" role="img" aria-label="' + esc(label) + '" data-id="' +
      esc(trend.level + ":" + trend.id) + '" data-range="' + trend.range + '" data-points="' + n + '">'];
    [0, 50, 100, occTop].forEach(function (v) {
      if (v > occTop) return;
      g.push('<line class="grid' + (v === 100 ? " full" : "") + '" x1="' + L + '" x2="' + (W - R) + '" y1="' + yo(v).toFixed(1) + '" y2="' + yo(v).toFixed(1) + '"></line>' +
        '<text class="axis" x="' + (L - 6) + '" y="' + (yo(v) + 4).toFixed(1) + '">' + v + " %</text>");
    });
    g.push('<line class="grid" x1="' + L + '" x2="' + (W - R) + '" y1="' + yc(0) + '" y2="' + yc(0) + '"></line>' +
      '<text class="axis" x="' + (L - 6) + '" y="' + (yc(0) + 4) + '">0</text>' +
      '<text class="axis" x="' + (L - 6) + '" y="' + (yc(cTop) + 4).toFixed(1) + '">' + fmtInt(cTop) + "</text>");
    var bw = n ? pw / n : pw;
    lvl.forEach(function (v, i) {
      var c = isNum(v) ? "lvl-" + Math.max(1, Math.min(4, v)) : "lvl-na";
      g.push('<rect class="' + c + '" x="' + (x(i) - bw / 2).toFixed(1) + '" y="' + SY + '" width="' + bw.toFixed(2) + '" height="' + SH + '"></rect>');
    });
    g.push('<path class="tr-occ" data-field="occupancy_pct" data-values="' + esc(valuesAttr(occ)) + '" d="' + linePath(occ, x, yo) + '"></path>');
    g.push('<path class="tr-over" data-field="overcrowded" data-values="' + esc(valuesAttr(over)) + '" d="' + linePath(over, x, yc) + '"></path>');
    g.push('<path class="tr-ready" data-field="discharge_ready" data-values="' + esc(valuesAttr(ready)) + '" d="' + linePath(ready, x, yc) + '"></path>');
    g.push('<g class="tr-esc" data-field="escalation_level" data-values="' + esc(valuesAttr(lvl)) + '"></g>');
    if (n) {
      [0, Math.floor((n - 1) / 2), n - 1].forEach(function (i, j) {
        g.push('<text class="axis t' + j + '" x="' + x(i).toFixed(1) + '" y="' + (H - 6) + '">' + esc(timeLabel(times[i], week)) + "</text>");
      });
    }
    g.push("</svg>");
    update($("trend-chart"), g.join(""));
    $("trend-caption").textContent = T("trend.caption", { name: name, period: period });
    if ($("trend-unit").textContent !== name) $("trend-unit").textContent = name;  // a live region: only a change
    var rows = times.map(function (t, i) {
      var none = !s || s.staffed_beds[i] === null;  // no ward yet: nothing to hide, nothing to show
      var c = function (f) { return none ? '<span class="v" data-field="' + f + '" data-value="">–</span>' : cell(f, s[f][i]); };
      return '<tr data-id="' + esc(t) + '"><th scope="row" data-field="at" data-value="' + esc(t) + '">' + esc(clock(t)) + "</th>" +
        '<td class="num">' + c("occupancy_pct") + "</td>" + '<td class="num">' + c("occupied") + "</td>" +
        '<td class="num">' + c("overcrowded") + "</td>" + '<td class="num">' + c("discharge_ready") + "</td>" +
        '<td class="num">' + (none ? "–" : badge(lvl[i], "")) + "</td></tr>";
    });
    update($("trend-table-body"), rows.length ? rows.join("") : '<tr><td colspan="6" class="empty">' + esc(T("trend.none")) + "</td></tr>");
  }

  function toggleTrendTable() {
    var b = $("trend-table-toggle"), open = b.getAttribute("aria-expanded") !== "true";
    b.setAttribute("aria-expanded", String(open));
    b.setAttribute("data-i18n", open ? "show.chart" : "show.table");
    b.textContent = T(b.getAttribute("data-i18n"));
    $("trend-table-wrap").hidden = !open;
    $("trend-chart").hidden = open;
    $("trend-legend").hidden = open;
  }

  // ---------------------------------------------------------------- out-of-area heat map
  function heatColor(v, max) {
    if (!isNum(v) || v <= 0) return null;
    var t = Math.log(1 + v) / Math.log(1 + Math.max(max, 1));
    // light blue -> deep blue
    var c0 = [222, 235, 247], c1 = [8, 69, 148];
    var c = c0.map(function (a, i) { return Math.round(a + (c1[i] - a) * t); });
    return { fill: "rgb(" + c.join(",") + ")", dark: luminance(c) < 0.179 };
  }

  // Relative luminance (WCAG 2.x). A cell's number is white on fills darker than 0.179 and black on the
  // others: the better of the two is always at least 4.58:1 (a fixed threshold on t gave 3.4:1 mid-scale).
  function luminance(rgb) {
    var l = rgb.map(function (v) { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2];
  }

  function renderHeatmap(data) {
    lastHeat = data;
    var m = {};
    var kinds = {};  // windows: admissions planned / acute / not stated and inter-regional transfers, when sent
    var max = 0;
    ((data && data.rows) || []).forEach(function (r) {
      var k = r.home_region + ":" + r.treating_region;
      m[k] = r.patients;
      if (r.transfers !== undefined) {
        kinds[k] = T("ooa.kinds", { planned: fmtField("patients", r.admissions_planned), acute: fmtField("patients", r.admissions_acute),
                                    unknown: fmtField("patients", r.admissions_unknown), transfers: fmtField("patients", r.transfers) });
      }
      if (isNum(r.patients) && r.patients > max) max = r.patients;
    });
    var n = REGIONS.length, cs = 25, left = 150, top = 100;
    var W = left + n * cs + 70, H = top + n * cs + 4;
    var s = ['<svg id="heatmap-svg" viewBox="0 0 ' + W + " " + H + '" width="' + W + '" height="' + H +
      '" role="img" aria-label="' + esc(T("ooa.map")) + '" data-window="' + esc(data && data.window || state.window) + '">'];
    REGIONS.forEach(function (r, j) {
      var x = left + j * cs + cs / 2;
      s.push('<text class="hm-col" transform="translate(' + (x + 4) + "," + (top - 6) + ') rotate(-60)">' + r[0] + " " + esc(r[1]) + "</text>");
    });
    REGIONS.forEach(function (home, i) {
      var y = top + i * cs;
      s.push('<text class="hm-row" x="' + (left - 6) + '" y="' + (y + cs / 2 + 4) + '">' + esc(home[1]) + " " + home[0] + "</text>");
      REGIONS.forEach(function (tr, j) {
        var x = left + j * cs;
        var k = home[0] + ":" + tr[0];
        var has = Object.prototype.hasOwnProperty.call(m, k);
        var v = has ? m[k] : 0;
        var diag = home[0] === tr[0];
        var col = heatColor(v, max);
        var fill = diag ? "#e3e6ea" : (v === null ? "url(#hm-hatch)" : (col ? col.fill : "#f7f9fb"));
        var label = diag ? "" : (v === null ? smallLabel() : (isNum(v) && v > 0 ? (v >= 1000 ? Math.round(v / 100) / 10 + "k" : String(v)) : ""));
        var tip = REGION_NAME[home[0]] + " → " + REGION_NAME[tr[0]] + ": " + (diag ? T("ooa.own") : (v === null ? smallLabel() + " (" + T("ooa.suppressed") + ")" :
          T("ooa.n", { n: v || 0 }) + (kinds[k] ? " (" + kinds[k] + ")" : "")));
        s.push('<g class="hm-cell" data-home="' + home[0] + '" data-treating="' + tr[0] + '" data-value="' + esc(rawAttr(has ? v : 0)) + '">' +
          "<title>" + esc(tip) + "</title>" +
          '<rect x="' + (x + 1) + '" y="' + (y + 1) + '" width="' + (cs - 2) + '" height="' + (cs - 2) + '" rx="3" fill="' + fill + '"></rect>' +
          (label ? '<text x="' + (x + cs / 2) + '" y="' + (y + cs / 2 + 4) + '" class="hm-num' + (col && col.dark ? " dark" : "") + '">' + esc(label) + "</text>" : "") +
          "</g>");
      });
    });
    s.push('<defs><pattern id="hm-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">' +
      '<rect width="6" height="6" fill="#eef1f4"></rect><line x1="0" y1="0" x2="0" y2="6" stroke="#c5ccd4" stroke-width="2"></line></pattern></defs>');
    s.push("</svg>");
    var c1 = heatColor(1, max), cm = heatColor(max, max);
    s.push('<div class="hm-legend"><span><i style="background:' + (c1 ? c1.fill : "#dbe7f4") + '"></i>' + esc(T("ooa.few")) + "</span>" +
      '<span><i style="background:' + (cm ? cm.fill : "#084594") + '"></i>max ' + fmtInt(max) + '</span>' +
      '<span><i class="hatch"></i>' + esc(smallLabel()) + " " + esc(T("ooa.suppressed")) + '</span><span><i style="background:#e3e6ea"></i>' +
      esc(T("ooa.own")) + "</span></div>");
    update($("heatmap"), s.join(""));
    renderHeatmapTable(m, kinds);
  }

  // The heat map as a table (WCAG 1.1.1, 1.3.1): one row per home → treating pair with patients, in the
  // region table's order, the suppressed ones as "<N".
  function renderHeatmapTable(m, kinds) {
    var rows = [];
    REGIONS.forEach(function (home) {
      REGIONS.forEach(function (tr) {
        var k = home[0] + ":" + tr[0];
        if (home[0] === tr[0] || !Object.prototype.hasOwnProperty.call(m, k) || m[k] === 0) return;
        var v = m[k];
        rows.push('<tr data-id="' + k + '" data-home="' + home[0] + '" data-treating="' + tr[0] + '" data-value="' + esc(rawAttr(v)) + '">' +
          '<th scope="row">' + home[0] + " " + esc(home[1]) + "</th>" +
          "<td>" + tr[0] + " " + esc(tr[1]) + "</td>" +
          '<td class="num">' + cell("patients", v) + "</td>" +
          "<td>" + (kinds[k] ? esc(kinds[k]) : "–") + "</td></tr>");
      });
    });
    update($("heatmap-table-body"), rows.length ? rows.join("") :
      '<tr><td colspan="4" class="empty">' + esc(T("ooa.empty")) + "</td></tr>");
  }

  function toggleHeatmapTable() {
    var b = $("heatmap-table-toggle"), open = b.getAttribute("aria-expanded") !== "true";
    b.setAttribute("aria-expanded", String(open));
    b.setAttribute("data-i18n", open ? "show.map" : "show.table");
    b.textContent = T(b.getAttribute("data-i18n"));
    $("heatmap-table-wrap").hidden = !open;
    $("heatmap").hidden = open;
    $("heatmap-hint").hidden = open;  // rows and columns of the map
  }

  function loadHeatmap() {
    var w = state.window;
    return api("/api/v1/out-of-area?window=" + encodeURIComponent(w)).then(function (d) {
      if (w === state.window) renderHeatmap(d);
    });
  }

  // ---------------------------------------------------------------- waiting lists
  var BUCKETS = [
    ["le_30", "≤30 d", "b1"], ["le_60", "31–60", "b2"], ["le_90", "61–90", "b3"],
    ["le_180", "91–180", "b4"], ["gt_180", ">180", "b5"]
  ];

  function stackBar(r) {
    var vals = BUCKETS.map(function (b) { return isNum(r[b[0]]) ? r[b[0]] : 0; });
    var total = vals.reduce(function (a, b) { return a + b; }, 0);
    var s = ['<svg class="stack" viewBox="0 0 100 12" preserveAspectRatio="none" aria-hidden="true">'];
    var x = 0;
    if (total > 0) {
      vals.forEach(function (v, i) {
        var w = v / total * 100;
        if (w > 0) s.push('<rect class="' + BUCKETS[i][2] + '" x="' + x.toFixed(2) + '" y="0" width="' + w.toFixed(2) + '" height="12"></rect>');
        x += w;
      });
    } else {
      s.push('<rect class="empty" x="0" y="0" width="100" height="12"></rect>');
    }
    s.push("</svg>");
    var tip = BUCKETS.map(function (b) { return b[1] + ": " + fmtField(b[0], r[b[0]]); }).join(" · ");
    var hidden = BUCKETS.map(function (b) { return cell(b[0], r[b[0]], "bucket"); }).join("");
    return '<div class="dist" title="' + esc(tip) + '">' + s.join("") + '<span class="buckets" hidden>' + hidden + "</span></div>";
  }

  function renderWaitlist(data) {
    lastWait = data;
    var rows = (data && data.rows) || [];
    var body = $("waitlist-body");
    if (!rows.length) {
      update(body, '<tr><td colspan="6" class="empty">' + esc(T("wait.empty")) + "</td></tr>");
    } else {
      update(body, rows.map(function (r) {
        var share = r.share_within_limit;
        var sp = isNum(share) ? (share <= 1.0001 ? share * 100 : share) : null;
        var cls = sp === null ? "" : (sp >= 80 ? "good" : (sp >= 60 ? "mid" : "bad"));
        return '<tr class="row" data-id="' + esc(r.mvo_group + "|" + r.phase) + '">' +
          '<td class="name" data-field="mvo_group">' + esc(r.mvo_group) + "</td>" +
          '<td class="num">' + cell("phase", r.phase) + "</td>" +
          '<td class="num big">' + cell("waiting", r.waiting) + "</td>" +
          '<td class="dist">' + stackBar(r) + "</td>" +
          '<td class="num share ' + cls + '">' + cell("share_within_limit", share) + "</td>" +
          '<td class="num">' + cell("share_over_180", r.share_over_180) + "</td></tr>";
      }).join(""));
    }
    $("waitlist-at").textContent = data && data.at ? T("wait.at", { t: clock(data.at) }) : "";
  }

  function loadWaitlist() {
    var region = state.waitRegion, phase = state.waitPhase;
    var url = "/api/v1/waitlist?region=" + encodeURIComponent(region) + (phase ? "&phase=" + encodeURIComponent(phase) : "");
    return api(url).then(function (d) {
      if (region === state.waitRegion && phase === state.waitPhase) renderWaitlist(d);
    });
  }

  // ---------------------------------------------------------------- need / offer (issue 14)
  // The selected region's need of one kind of bed (now and the forecast for tomorrow morning) and the ranked
  // region-level offers near it, from /api/v1/room-nearby?unit=<region>&need=<kind>. Rows are keyed
  // (data-id) and merged in place on every refresh: the tables and focus stay.
  var lastRoom = null;

  function roomTomorrow(data) {
    return data && data.forecast_at ? T("room.tomorrow", { t: I18N.fmt("hm", data.forecast_at) }) : T("room.tomorrow.none");
  }

  function shortageOf(free, over) {
    return isNum(free) && isNum(over) ? Math.max(0, Math.round(over) - Math.round(free)) : null;
  }

  function renderRoom(data) {
    lastRoom = data;
    var need = (data && data.need) || {};
    var name = REGION_NAME[need.id] || need.name || need.id || "";
    var kind = T("room." + (need.kind || state.roomKind));
    $("room-need-caption").textContent = T("room.need.caption", { name: name, kind: kind });
    $("room-offers-caption").textContent = T("room.offers.caption", { name: name, kind: kind });
    var head = $("room-tomorrow-head");
    var headText = data && data.forecast_at ? T("room.free.tomorrow", { t: I18N.fmt("hm", data.forecast_at) }) : T("room.tomorrow.none");
    if (head.textContent !== headText) head.textContent = headText;
    update($("room-need-body"),
      '<tr class="row" data-id="now"><th scope="row">' + esc(T("room.now")) + "</th>" +
        '<td class="num big">' + cell("free_beds", need.free_beds) + "</td>" +
        '<td class="num big">' + cell("overcrowded", need.overcrowded, isNum(need.overcrowded) && need.overcrowded > 0 ? "warn" : "") + "</td>" +
        '<td class="num big' + (isNum(need.shortage) && need.shortage > 0 ? " neg" : "") + '">' + cell("shortage", need.shortage) + "</td></tr>" +
      '<tr class="row" data-id="tomorrow"><th scope="row">' + esc(roomTomorrow(data)) + "</th>" +
        '<td class="num">' + cell("forecast_free_beds", need.forecast_free_beds) + "</td>" +
        '<td class="num">' + cell("forecast_overcrowded", need.forecast_overcrowded) + "</td>" +
        '<td class="num">' + cell("forecast_shortage", shortageOf(need.forecast_free_beds, need.forecast_overcrowded)) + "</td></tr>");
    var offers = (data && data.regions) || [];
    if (!offers.length) {
      update($("room-offers-body"), '<tr data-id="empty"><td colspan="6" class="empty">' + esc(T("room.empty")) + "</td></tr>");
      return;
    }
    update($("room-offers-body"), offers.map(function (o) {
      var rel = T("room.rel." + o.relation, { n: (o.travel_order || 0) + 1 });
      return '<tr class="row" data-id="' + esc(o.region_code) + '">' +
        '<td class="num">' + cell("rank", o.rank) + "</td>" +
        '<td class="name" data-field="region_code" data-value="' + esc(o.region_code) + '">' + esc(o.region_code) + " " +
          esc(REGION_NAME[o.region_code] || o.name) + "</td>" +
        '<td data-field="relation" data-value="' + esc(o.relation) + '">' + esc(rel) + "</td>" +
        '<td class="num big">' + cell("free_beds", o.free_beds) + "</td>" +
        '<td class="num">' + cell("overcrowded", o.overcrowded, isNum(o.overcrowded) && o.overcrowded > 0 ? "warn" : "") + "</td>" +
        '<td class="num">' + cell("forecast_free_beds", o.forecast_free_beds) + "</td></tr>";
    }).join(""));
  }

  function loadRoom() {
    var region = state.roomRegion, kind = state.roomKind;
    return api("/api/v1/room-nearby?unit=" + encodeURIComponent(region) + "&need=" + encodeURIComponent(kind))
      .then(function (d) { if (region === state.roomRegion && kind === state.roomKind) renderRoom(d); });
  }

  // ---------------------------------------------------------------- dead letters
  function renderDeadletters(data) {
    lastDead = data;
    var rows = (data && data.rows) || [];
    $("deadletter-count").textContent = rows.length ? T("dl.count", { n: rows.length }) : "";
    if (!rows.length) {
      update($("deadletter-body"), '<tr><td colspan="5" class="empty">' + esc(T("dl.empty")) + "</td></tr>");
      return;
    }
    update($("deadletter-body"), rows.map(function (r, i) {
      var rules = (r.rule_ids || []).map(function (x) { return '<code class="rule">' + esc(x) + "</code>"; }).join(" ");
      var msgs = (r.messages || []).map(esc).join("<br>");
      var rc = r.region_code;
      return '<tr class="row" data-id="' + i + '">' +
        '<td class="time" data-field="at" data-value="' + esc(rawAttr(r.at)) + '">' + clock(r.at) + "</td>" +
        '<td data-field="region_code" data-value="' + esc(rawAttr(rc)) + '">' + (rc ? esc(rc) + " " + esc(REGION_NAME[rc] || "") : "–") + "</td>" +
        '<td data-field="source_topic"><code>' + esc(r.source_topic) + "</code></td>" +
        '<td data-field="rule_ids">' + rules + "</td>" +
        '<td class="msg" data-field="messages">' + msgs + "</td></tr>";
    }).join(""));
  }

  function loadDeadletters() {
    return api("/api/v1/deadletters?limit=25").then(renderDeadletters);
  }

  // ---------------------------------------------------------------- refresh loop
  // The header's time is Stockholm's, as every time on the page (the browser's own zone may differ).
  function renderRefreshStatus(err, quiet) {
    var el = $("refresh-status");
    if (err) {
      el.className = "refresh-status error";
      el.textContent = T("refresh.error") + (state.lastOk ? T("refresh.lastok", { t: I18N.fmt("time", state.lastOk) }) : "");
      el.title = apiErrorText(err);
    } else {
      el.className = "refresh-status ok";
      el.textContent = T(state.paused ? "refresh.paused" : "refresh.ok", { t: I18N.fmt("time", state.lastOk) });
      el.title = "";
    }
    if (!quiet) announce(err ? "error" : state.paused ? "paused" : "ok");
  }

  // Status messages for screen readers (WCAG 4.1.3): only a change of state is spoken (connection lost or
  // back, paused, resumed), never the 5-second ticks; the first good load is not announced.
  var announced = null;
  function announce(key) {
    if (key === announced) return;
    var first = announced === null;
    announced = key;
    if (first && key === "ok") return;
    $("refresh-announce").textContent = T("announce." + key);
  }

  function okTick() {
    state.lastOk = new Date();
    state.failing = false;
    state.lastError = null;
    renderRefreshStatus(null);
  }

  var inFlight = false;
  function refreshAll() {
    if (inFlight || state.paused || !token()) return Promise.resolve();
    inFlight = true;
    return Promise.all([loadStatus(), loadHeatmap(), loadWaitlist(), loadRoom(), loadDeadletters(), loadSparks(false),
                        loadTrend(false)])
      .then(okTick, handleError)
      .then(function () { inFlight = false; });
  }

  function startRefresh() {
    stopRefresh();
    if (!state.paused) state.timer = setInterval(refreshAll, REFRESH_MS);
  }

  // Pause / resume of the automatic refresh (WCAG 2.2.2): a toggle button, state in aria-pressed. Paused,
  // nothing is fetched (a choice made while paused fetches its own panel once); resuming fetches at once.
  function setPaused(p) {
    state.paused = p;
    var b = $("pause-button");
    b.setAttribute("aria-pressed", String(p));
    b.setAttribute("data-i18n", p ? "resume" : "pause");
    b.textContent = T(b.getAttribute("data-i18n"));
    if (p) stopRefresh();
    else { refreshAll(); startRefresh(); }
    if (state.lastOk && !state.failing) renderRefreshStatus(null);
  }

  function stopRefresh() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }

  // ---------------------------------------------------------------- wiring
  function init() {
    $("login-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var t = $("token-input").value.trim();
      if (!t) return;
      sessionStorage.setItem(TOKEN_KEY, t);
      showApp();
    });
    $("report-button").addEventListener("click", openReport);
    $("pause-button").addEventListener("click", function () { setPaused(!state.paused); });
    $("heatmap-table-toggle").addEventListener("click", toggleHeatmapTable);
    $("trend-table-toggle").addEventListener("click", toggleTrendTable);
    $("trend-range").addEventListener("click", function (ev) {
      var b = ev.target.closest("button[data-range]");
      if (!b) return;
      setRange(b.getAttribute("data-range"));
      loadTrend(true).catch(handleError);
    });
    $("logout-button").addEventListener("click", function () {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin();
    });

    $("status-body").addEventListener("click", onStatusClick);
    $("breadcrumb").addEventListener("click", function (ev) {
      var a = ev.target.closest("a.crumb");
      if (!a) return;
      ev.preventDefault();
      var d = parseInt(a.getAttribute("data-depth"), 10);
      drillTo(state.path.slice(0, d + 1));
    });

    $("window-selector").addEventListener("click", function (ev) {
      var b = ev.target.closest("button[data-window]");
      if (!b) return;
      state.window = b.getAttribute("data-window");
      Array.prototype.forEach.call(this.querySelectorAll("button"), function (x) {
        x.classList.toggle("active", x === b);
        x.setAttribute("aria-pressed", String(x === b));
      });
      loadHeatmap().catch(handleError);
    });

    var sel = $("waitlist-region");
    sel.addEventListener("change", function () { state.waitRegion = sel.value; loadWaitlist().catch(handleError); });
    $("waitlist-phase").addEventListener("change", function () {
      state.waitPhase = this.value; loadWaitlist().catch(handleError);
    });
    var roomSel = $("room-region");
    roomSel.addEventListener("change", function () { state.roomRegion = roomSel.value; loadRoom().catch(handleError); });
    $("room-kind").addEventListener("change", function () { state.roomKind = this.value; loadRoom().catch(handleError); });
    $("waitlist-legend").innerHTML = BUCKETS.map(function (b) {
      return '<span class="lg"><i class="' + b[2] + '"></i>' + b[1] + "</span>";
    }).join("");

    renderBreadcrumb();
    $("trend-unit").textContent = trendName();
    I18N.onChange(relabel);
    if (token()) showApp(); else showLogin();
  }

  // The other language: the static texts are done by i18n.js; the panels are drawn again from their last
  // answers (merged in place like a refresh, so focus stays), without fetching and without announcing.
  function relabel() {
    renderBreadcrumb();
    $("trend-unit").textContent = trendName();
    if (lastNation) renderNation(lastNation);
    if (lastStatus) renderStatus(lastStatus.view, lastStatus.data);
    if (lastTrend) renderTrend(lastTrend);
    if (lastHeat) renderHeatmap(lastHeat);
    if (lastWait) renderWaitlist(lastWait);
    if (lastRoom) renderRoom(lastRoom);
    if (lastDead) renderDeadletters(lastDead);
    if (state.failing) renderRefreshStatus(state.lastError, true);
    else if (state.lastOk) renderRefreshStatus(null, true);
    var said = $("refresh-announce");
    if (said.textContent && announced) said.textContent = T("announce." + announced);
  }

  // Small debugging/testing hook (read-only view of the drill-down position).
  window.bedflow = {
    path: function () { return state.path.map(function (p) { return Object.assign({}, p); }); },
    trendExport: function () { return trendExportUrl(); },  // the trend panel's download (below)
    refresh: function () { return refreshAll(); }
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

// ================================================================ exports (issue 13: CSV / Excel)
// Self-contained: download buttons next to each table of the page. Each fetches the table's own API
// answer with ?format=csv|xlsx and the bearer header (never a token in the URL), so the file holds what
// this viewer sees, hidden counts empty; the server names the file (Content-Disposition).
(function () {
  "use strict";
  var I18N = window.bedflowI18n;
  var PANELS = {
    "status-panel": function () {
      var path = window.bedflow ? window.bedflow.path() : [{ level: "nation" }];
      var v = path[path.length - 1];
      var q = "level=" + encodeURIComponent(v.level);
      if (v.region) q += "&region=" + encodeURIComponent(v.region);
      if (v.hospital) q += "&hospital=" + encodeURIComponent(v.hospital);
      return "/api/v1/status?" + q;
    },
    "heatmap-panel": function () {
      var b = document.querySelector('#window-selector button[aria-pressed="true"]') ||
        document.querySelector("#window-selector button.active");
      return "/api/v1/out-of-area?window=" + encodeURIComponent(b ? b.getAttribute("data-window") : "now");
    },
    "waitlist-panel": function () {
      var region = document.getElementById("waitlist-region").value;
      var phase = document.getElementById("waitlist-phase").value;
      return region ? "/api/v1/waitlist?region=" + encodeURIComponent(region) +
        (phase ? "&phase=" + encodeURIComponent(phase) : "") : null;
    },
    "room-panel": function () {
      var region = document.getElementById("room-region").value;
      return region ? "/api/v1/room-nearby?unit=" + encodeURIComponent(region) + "&need=" +
        encodeURIComponent(document.getElementById("room-kind").value) : null;
    },
    "deadletter-panel": function () { return "/api/v1/deadletters?limit=25"; },
    // the chart's unit and period: its table's points (one row per point)
    "trend-panel": function () { return window.bedflow ? window.bedflow.trendExport() : null; }
  };

  function fileName(header, fallback) {
    var exact = /filename\*=UTF-8''([^;]+)/i.exec(header || "");
    if (exact) return decodeURIComponent(exact[1]);
    var plain = /filename="([^"]+)"/i.exec(header || "");
    return plain ? plain[1] : fallback;
  }

  function download(url, fmt, msg) {
    msg.textContent = "";
    var name = "export." + fmt;
    return fetch(url + "&format=" + fmt, {
      headers: { "Authorization": "Bearer " + (sessionStorage.getItem("bedflow.token") || "") },
      cache: "no-store"
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      name = fileName(r.headers.get("Content-Disposition"), name);
      return r.blob();
    }).then(function (blob) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 60000);
      msg.textContent = I18N.t("export.done", { name: name });
    }).catch(function (err) {
      msg.textContent = I18N.t("export.failed", { why: err.message });
    });
  }

  function addButtons() {
    Object.keys(PANELS).forEach(function (id) {
      var head = document.querySelector("#" + id + " .card-head");
      if (!head || head.querySelector(".export-buttons")) return;
      var box = document.createElement("div");
      box.className = "export-buttons";
      box.setAttribute("role", "group");
      box.setAttribute("data-i18n-attr", "aria-label=export.group");
      box.setAttribute("aria-label", I18N.t("export.group"));
      var msg = document.createElement("span");
      msg.className = "export-msg";
      msg.setAttribute("role", "status");
      [["csv", "CSV", "export.csv"], ["xlsx", "Excel", "export.xlsx"]].forEach(function (f) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "export-button";  // the plain button: "link" is light, for the dark header
        b.setAttribute("data-export", f[0]);
        b.setAttribute("data-i18n-attr", "title=" + f[2]);
        b.title = I18N.t(f[2]);
        var arrow = document.createElement("span");
        arrow.setAttribute("aria-hidden", "true");
        arrow.textContent = "↓ ";
        b.appendChild(arrow);
        b.appendChild(document.createTextNode(f[1]));
        b.addEventListener("click", function () {
          var url = PANELS[id]();
          if (url) download(url, f[0], msg);
        });
        box.appendChild(b);
      });
      box.appendChild(msg);
      head.appendChild(box);
    });
  }

  // A message of the other language is not left behind when the viewer switches.
  I18N.onChange(function () {
    Array.prototype.forEach.call(document.querySelectorAll(".export-msg"), function (m) { m.textContent = ""; });
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", addButtons);
  else addButtons();
})();
