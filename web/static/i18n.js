/* bedflow live page: the one dictionary (Swedish first, English as a toggle) and Stockholm time.
 *
 * Every text the page writes comes from DICT: static markup names its key (data-i18n="key" for the text,
 * data-i18n-attr="aria-label=key;title=key" for attributes), app.js asks t(key, {param}). The choice is
 * kept in localStorage and sets <html lang>. Loaded before app.js; exposes window.bedflowI18n.
 */
(function () {
  "use strict";

  var LANG_KEY = "bedflow.lang";
  var TZ = "Europe/Stockholm";

  var DICT = {
    sv: {
      "doc.title": "bedflow – Vårdplatsläge",
      "lang.switch": "English",
      "login.sub": "Vårdplatser och vårdköer i nära realtid",
      "login.token": "Åtkomsttoken",
      "login.button": "Logga in",
      "login.invalid": "Ogiltig eller utgången token",
      "brand.sub": "Vårdplatsläge Sverige",
      "f.staffed": "Vårdplatser",
      "f.occupied": "Belagda",
      "f.free": "Lediga",
      "f.occupancy": "Beläggning",
      "f.occupancy.pct": "Beläggning %",
      "f.overcrowded": "Överbeläggningar",
      "f.outliers": "Utlokaliserade",
      "f.ready": "Utskrivningsklara",
      "f.level": "Nivå",
      "f.ooa": "Utomlänspatienter in / ut",
      "f.unit": "Enhet",
      "f.time": "Tid",
      "f.occ.now": "nu · trend 24 h",
      "coverage.none": "täckning: –",
      "coverage.head": "täckning: ",
      "coverage.tail": " av avdelningarna färska",
      "pause": "Pausa uppdatering",
      "resume": "Återuppta uppdatering",
      "report.date": "Rapportdatum",
      "report": "Morgonrapport",
      "logout": "Logga ut",
      "status.title": "Vårdplatsläge",
      "status.level": "Nivå",
      "loading": "Laddar…",
      "nation.name": "Sverige",
      "level.healthcare_region": "Sjukvårdsregioner",
      "level.region": "Regioner",
      "level.hospital": "Sjukhus",
      "level.ward": "Avdelningar",
      "trend.range": "Period",
      "show.table": "Visa som tabell",
      "show.chart": "Visa som diagram",
      "show.map": "Visa som karta",
      "trend.hint": "Välj en enhets kurva i tabellen ovan för att se den här",
      "trend.table": "Trend, tabell",
      "trend.caption": "Trend: {name}, {period}",
      "trend.24h": "senaste 24 timmarna",
      "trend.7d": "senaste 7 dygnen",
      "trend.all": "Alla punkter finns i tabellen.",
      "trend.none": "Inga punkter",
      "trend.show": "Visa trend för {name}",
      "spark.occ24": "Beläggning senaste 24 h",
      "spark.occ": "Beläggning",
      "spark.novalues": "inga värden",
      "spark.minmax": "lägst {lo}, högst {hi}, nu {now}",
      "spark.hidden": "dolt eller saknas",
      "count.minmax": "{label} högst {hi}, nu {now}",
      "ooa.title": "Utomlänspatienter",
      "ooa.window": "Tidsfönster",
      "ooa.now": "Nu",
      "ooa.hint": "Rader: hemregion · Kolumner: vårdande region",
      "ooa.table": "Utomlänspatienter, tabell",
      "ooa.caption": "Utomlänspatienter per hemregion och vårdande region",
      "ooa.map": "Utomlänspatienter per hemregion och vårdande region (finns även som tabell)",
      "ooa.home": "Hemregion",
      "ooa.treating": "Vårdande region",
      "ooa.patients": "Patienter",
      "ooa.breakdown": "Fördelning",
      "ooa.kinds": "planerade {planned}, akuta {acute}, ej angivet {unknown}, överflyttningar {transfers}",
      "ooa.own": "egen region",
      "ooa.suppressed": "dolt",
      "ooa.n": "{n} patienter",
      "ooa.few": "få",
      "ooa.empty": "Inga utomlänspatienter",
      "wait.title": "Vårdköer",
      "wait.phase": "Fas",
      "wait.all": "Alla",
      "wait.p1": "1 Första kontakt",
      "wait.p2": "2 Operation/behandling",
      "wait.p3": "3 Utredning",
      "wait.p4": "4 Återbesök",
      "wait.group": "MVO-grupp",
      "wait.waiting": "Väntande",
      "wait.days": "Väntetid (dagar)",
      "wait.within": "Inom gräns",
      "wait.empty": "Inga väntande",
      "wait.at": "Läge {t}",
      "room.title": "Behov och erbjudande",
      "room.kind": "Vårdplatstyp",
      "room.somatic": "Somatik",
      "room.psychiatric": "Psykiatri",
      "room.icu": "IVA",
      "room.hint": "Regionens behov och plats i närheten som passar: samma vårdtyp (IVA bara till IVA), grannregionerna i reseordning, sedan resten av sjukvårdsregionen. Lediga och överbelagda visas sida vid sida, aldrig nettade.",
      "room.need.caption": "Behov: {name}, {kind}",
      "room.offers.caption": "Erbjudanden nära {name}, {kind}, närmast först",
      "room.offers.region": "Erbjudanden, tabell",
      "room.when": "När",
      "room.now": "Nu",
      "room.tomorrow": "I morgon {t}",
      "room.tomorrow.none": "I morgon (ingen prognos)",
      "room.free": "Lediga",
      "room.over": "Överbelagda",
      "room.shortage": "Brist",
      "room.rank": "Nr",
      "room.relation": "Avstånd",
      "room.rel.region": "samma region",
      "room.rel.neighbour": "grannregion {n}",
      "room.rel.healthcare_region": "sjukvårdsregionen",
      "room.free.now": "Lediga nu",
      "room.over.now": "Överbelagda nu",
      "room.free.tomorrow": "Lediga i morgon {t}",
      "room.empty": "Inga regioner med lediga vårdplatser av denna typ inom räckhåll",
      "dl.title": "Avvisade meddelanden",
      "dl.topic": "Ämne",
      "dl.rule": "Regel",
      "dl.message": "Meddelande",
      "dl.count": "{n} senaste",
      "dl.empty": "Inga avvisade meddelanden",
      "cell.small": "Litet antal döljs",
      "cell.na": "Saknas",
      "esc.1": "Normal",
      "esc.2": "Förhöjd",
      "esc.3": "Hög",
      "esc.4": "Kritisk",
      "esc.level": "Nivå {l} – {name}",
      "esc.none": "Ingen nivå",
      "rule.occ": "beläggning {v} % {op} {t} %",
      "rule.over": "överbeläggningar {v} per 100 vårdplatser {op} {t}",
      "row.coverage.title": "Andel avdelningar med färska data",
      "row.coverage": "täckning {p} %",
      "row.stale.title": "Ingen händelse på {n} min",
      "row.stale": "inaktuell",
      "row.census.title": "Avdelningar som bara rapporterar räkning: hemregion okänd",
      "row.census": "enl. räkning",
      "row.drill": "Visa detaljer",
      "row.nodetail": "Sjukhus och avdelningar kräver behörighet till kapacitetsdetaljer",
      "row.last.title": "Senaste händelse {t}",
      "row.last": "senast",
      "row.present": "närv.",
      "row.leave": "perm.",
      "row.empty": "Inga enheter",
      "refresh.error": "Anslutningsfel",
      "refresh.lastok": " – senast ok {t}",
      "refresh.paused": "Pausad – {t}",
      "refresh.ok": "Uppdaterad {t}",
      "announce.error": "Anslutningsfel, siffrorna uppdateras inte",
      "announce.paused": "Uppdateringen är pausad",
      "announce.ok": "Uppdateringen fungerar igen",
      "err.http": "{path}: HTTP {status}",
      "export.group": "Ladda ner tabellen",
      "export.csv": "Ladda ner som CSV (Excel, Qlik, Power BI)",
      "export.xlsx": "Ladda ner som Excel-fil",
      "export.done": "Hämtad: {name}",
      "export.failed": "Exporten misslyckades ({why})",
      "f.occ.trends": "nu · trend 24 h · 7 dygn",
      "spark.occ7d": "Beläggning senaste 7 dygn",
      "spark.tag24h": "24 h",
      "spark.tag7d": "7 dygn"
    },
    en: {
      "doc.title": "bedflow – Bed capacity",
      "lang.switch": "Svenska",
      "login.sub": "Near-real-time bed capacity and waiting lists",
      "login.token": "Access token",
      "login.button": "Sign in",
      "login.invalid": "Invalid or expired token",
      "brand.sub": "National bed status",
      "f.staffed": "Staffed beds",
      "f.occupied": "Occupied",
      "f.free": "Free beds",
      "f.occupancy": "Occupancy",
      "f.occupancy.pct": "Occupancy %",
      "f.overcrowded": "Overcrowded",
      "f.outliers": "Outliers",
      "f.ready": "Discharge-ready",
      "f.level": "Escalation",
      "f.ooa": "Out-of-area in / out",
      "f.unit": "Unit",
      "f.time": "Time",
      "f.occ.now": "now · 24 h trend",
      "coverage.none": "coverage: –",
      "coverage.head": "coverage: ",
      "coverage.tail": " of wards fresh",
      "pause": "Pause updates",
      "resume": "Resume updates",
      "report.date": "Report date",
      "report": "Morning report",
      "logout": "Sign out",
      "status.title": "Bed status",
      "status.level": "Level",
      "loading": "Loading…",
      "nation.name": "Sweden",
      "level.healthcare_region": "Healthcare regions",
      "level.region": "Regions",
      "level.hospital": "Hospitals",
      "level.ward": "Wards",
      "trend.range": "Range",
      "show.table": "Show as table",
      "show.chart": "Show as chart",
      "show.map": "Show as map",
      "trend.hint": "Pick a unit's sparkline in the table above to see it here",
      "trend.table": "Trend, table",
      "trend.caption": "Trend: {name}, {period}",
      "trend.24h": "last 24 hours",
      "trend.7d": "last 7 days",
      "trend.all": "Every point is in the table.",
      "trend.none": "No points",
      "trend.show": "Show the trend of {name}",
      "spark.occ24": "Occupancy last 24 h",
      "spark.occ": "Occupancy",
      "spark.novalues": "no values",
      "spark.minmax": "min {lo}, max {hi}, now {now}",
      "spark.hidden": "hidden or missing",
      "count.minmax": "{label} max {hi}, now {now}",
      "ooa.title": "Out-of-area patients",
      "ooa.window": "Window",
      "ooa.now": "Now",
      "ooa.hint": "Rows: home region · Columns: treating region",
      "ooa.table": "Out-of-area patients, table",
      "ooa.caption": "Out-of-area patients by home and treating region",
      "ooa.map": "Out-of-area patients by home and treating region (also as a table)",
      "ooa.home": "Home region",
      "ooa.treating": "Treating region",
      "ooa.patients": "Patients",
      "ooa.breakdown": "Breakdown",
      "ooa.kinds": "planned {planned}, acute {acute}, not stated {unknown}, transfers {transfers}",
      "ooa.own": "own region",
      "ooa.suppressed": "suppressed",
      "ooa.n": "{n} patients",
      "ooa.few": "few",
      "ooa.empty": "No out-of-area patients",
      "wait.title": "Waiting lists",
      "wait.phase": "Phase",
      "wait.all": "All",
      "wait.p1": "1 First contact",
      "wait.p2": "2 Surgery/treatment",
      "wait.p3": "3 Examination",
      "wait.p4": "4 Follow-up",
      "wait.group": "Specialty group",
      "wait.waiting": "Waiting",
      "wait.days": "Wait (days)",
      "wait.within": "Within limit",
      "wait.empty": "Nobody waiting",
      "wait.at": "As of {t}",
      "room.title": "Need and offer",
      "room.kind": "Kind of bed",
      "room.somatic": "Somatic",
      "room.psychiatric": "Psychiatric",
      "room.icu": "ICU",
      "room.hint": "The region's need and the room nearby that fits: the same kind of care (ICU only to ICU), the neighbouring regions in travel order, then the rest of the healthcare region. Free and overcrowded side by side, never netted.",
      "room.need.caption": "Need: {name}, {kind}",
      "room.offers.caption": "Offers near {name}, {kind}, nearest first",
      "room.offers.region": "Offers, table",
      "room.when": "When",
      "room.now": "Now",
      "room.tomorrow": "Tomorrow {t}",
      "room.tomorrow.none": "Tomorrow (no forecast)",
      "room.free": "Free",
      "room.over": "Overcrowded",
      "room.shortage": "Shortage",
      "room.rank": "No.",
      "room.relation": "Distance",
      "room.rel.region": "same region",
      "room.rel.neighbour": "neighbour {n}",
      "room.rel.healthcare_region": "healthcare region",
      "room.free.now": "Free now",
      "room.over.now": "Overcrowded now",
      "room.free.tomorrow": "Free tomorrow {t}",
      "room.empty": "No region with free beds of this kind within reach",
      "dl.title": "Rejected messages (dead letters)",
      "dl.topic": "Topic",
      "dl.rule": "Rule",
      "dl.message": "Message",
      "dl.count": "{n} latest",
      "dl.empty": "No rejections",
      "cell.small": "Small number suppressed",
      "cell.na": "Not available",
      "esc.1": "Normal",
      "esc.2": "Elevated",
      "esc.3": "High",
      "esc.4": "Critical",
      "esc.level": "Level {l} – {name}",
      "esc.none": "No level",
      "rule.occ": "occupancy {v} % {op} {t} %",
      "rule.over": "overcrowded {v} per 100 beds {op} {t}",
      "row.coverage.title": "Share of wards with fresh data",
      "row.coverage": "coverage {p} %",
      "row.stale.title": "No event for {n} min",
      "row.stale": "stale",
      "row.census.title": "Census-only wards: home region unknown",
      "row.census": "census",
      "row.drill": "Drill down",
      "row.nodetail": "Hospital and ward level need a capacity-detail grant",
      "row.last.title": "Last event {t}",
      "row.last": "last",
      "row.present": "present",
      "row.leave": "on leave",
      "row.empty": "No units",
      "refresh.error": "Connection problem",
      "refresh.lastok": " – last ok {t}",
      "refresh.paused": "Paused – {t}",
      "refresh.ok": "Updated {t}",
      "announce.error": "Connection problem, figures are not updating",
      "announce.paused": "Refresh paused",
      "announce.ok": "Refreshing again",
      "err.http": "{path}: HTTP {status}",
      "export.group": "Download the table",
      "export.csv": "Download as CSV (Excel, Qlik, Power BI)",
      "export.xlsx": "Download as an Excel file",
      "export.done": "Downloaded: {name}",
      "export.failed": "Export failed ({why})",
      "f.occ.trends": "now · trend 24 h · 7 days",
      "spark.occ7d": "Occupancy last 7 days",
      "spark.tag24h": "24 h",
      "spark.tag7d": "7 days"
    }
  };

  function stored() {
    try { return localStorage.getItem(LANG_KEY); } catch (e) { return null; }
  }

  var lang = DICT[stored()] ? stored() : "sv";
  var listeners = [];

  function t(key, params) {
    var s = DICT[lang][key];
    if (s === undefined) s = DICT.sv[key];
    if (s === undefined) return key;
    return params ? s.replace(/\{(\w+)\}/g, function (m, k) { return params[k] == null ? "" : String(params[k]); }) : s;
  }

  // The API's texts are "svenska / English": the part for the chosen language (all of it when not paired).
  function pick(text) {
    if (typeof text !== "string") return text;
    var i = text.indexOf(" / ");
    if (i < 0) return text;
    return lang === "en" ? text.slice(i + 3) : text.slice(0, i);
  }

  // Static markup: data-i18n names the text, data-i18n-attr "attr=key;attr=key" the attributes.
  function apply(root) {
    root = root || document;
    Array.prototype.forEach.call(root.querySelectorAll("[data-i18n]"), function (el) {
      var s = t(el.getAttribute("data-i18n"));
      if (el.textContent !== s) el.textContent = s;
    });
    Array.prototype.forEach.call(root.querySelectorAll("[data-i18n-attr]"), function (el) {
      el.getAttribute("data-i18n-attr").split(";").forEach(function (pair) {
        var kv = pair.split("=");
        if (kv.length === 2) el.setAttribute(kv[0].trim(), t(kv[1].trim()));
      });
    });
  }

  // The toggle names the other language, in that language (and marks it so: WCAG 3.1.2).
  function applyDocument() {
    document.documentElement.lang = lang;
    document.title = t("doc.title");
    Array.prototype.forEach.call(document.querySelectorAll(".lang-toggle"), function (b) {
      b.setAttribute("lang", lang === "sv" ? "en" : "sv");
    });
    apply(document);
  }

  function setLang(l) {
    if (!DICT[l] || l === lang) return;
    lang = l;
    try { localStorage.setItem(LANG_KEY, l); } catch (e) { /* private mode: this page view only */ }
    applyDocument();
    listeners.forEach(function (fn) { fn(l); });
  }

  // Times on the page are Stockholm's, whatever the computer's zone (the header and the panels agree).
  var FMT = {
    time: new Intl.DateTimeFormat("sv-SE", { timeZone: TZ, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }),
    hm: new Intl.DateTimeFormat("sv-SE", { timeZone: TZ, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
    dm: new Intl.DateTimeFormat("sv-SE", { timeZone: TZ, day: "numeric", month: "numeric" }),
    dateTime: new Intl.DateTimeFormat("sv-SE", { timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" })
  };

  function fmt(kind, d) { return FMT[kind].format(d instanceof Date ? d : new Date(d)); }

  // A decimal number in the chosen language (decimal comma in Swedish).
  function decimal(v, digits) {
    var s = Number(v).toFixed(digits);
    return lang === "sv" ? s.replace(".", ",") : s;
  }

  window.bedflowI18n = {
    dict: DICT,
    lang: function () { return lang; },
    setLang: setLang,
    toggle: function () { setLang(lang === "sv" ? "en" : "sv"); },
    t: t,
    pick: pick,
    apply: apply,
    onChange: function (fn) { listeners.push(fn); },
    fmt: fmt,
    decimal: decimal,
    timeZone: TZ
  };

  function init() {
    applyDocument();
    Array.prototype.forEach.call(document.querySelectorAll(".lang-toggle"), function (b) {
      b.addEventListener("click", function () { window.bedflowI18n.toggle(); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
