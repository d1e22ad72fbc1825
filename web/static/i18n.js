/* bedflow live page: the one dictionary (Swedish first, English as a toggle) and Stockholm time.
 *
 * Every text the page writes comes from DICT (web/texts.json, served as /texts.js): static markup names its
 * key (data-i18n="key" for the text, data-i18n-attr="aria-label=key;title=key" for attributes), app.js asks
 * t(key, {param}). The choice is
 * kept in localStorage and sets <html lang>. Loaded before app.js; exposes window.bedflowI18n.
 */
(function () {
  "use strict";

  var LANG_KEY = "bedflow.lang";
  var TZ = "Europe/Stockholm";

  // The dictionary itself is web/texts.json, shared with the server (API errors, notes, the morning report),
  // loaded just before this file as /texts.js: {key: {sv, en}}, turned here into one map per language.
  var DICT = { sv: {}, en: {} };
  var TEXTS = window.bedflowTexts || {};
  Object.keys(TEXTS).forEach(function (key) {
    DICT.sv[key] = TEXTS[key].sv;
    DICT.en[key] = TEXTS[key].en;
  });

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
