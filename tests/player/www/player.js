// Plays the playlist named by ?src= with hls.js and records the evidence the Python test reads
// through window.report: fragments played (FRAG_CHANGED with their discontinuity counter and URL),
// playlist refreshes, errors, HLS interstitial events, what interstitial asset players buffered
// and currentTime samples.
// ?interstitials=1 turns on hls.js's interstitial (SGAI) playback; it is off for the SSAI page so
// that only the stitched timeline is exercised there.
// Otherwise hls.js runs with its default configuration (interstitial assets appended in place).
// ?appendInPlace=0 plays each interstitial asset in its own MediaSource instead, as Safari does.
// The page is served from another origin than the stream, as a customer's site would be: every
// URI the service hands out must work from here.
'use strict';
(function () {
  const params = new URLSearchParams(location.search);
  const src = params.get('src');
  const interstitials = params.get('interstitials') === '1';
  const video = document.getElementById('video');
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0) / 1000;
  const path = (url) => { try { const u = new URL(url, location.href); return u.pathname + u.search; } catch (e) { return String(url); } };
  const keep = (list, max) => { if (list.length > max) list.splice(0, list.length - max); };

  const report = {
    hlsVersion: typeof Hls === 'undefined' ? null : Hls.version,
    supported: typeof Hls !== 'undefined' && Hls.isSupported(),
    src, interstitials,
    log: [], frags: [], assetFrags: [], levels: [], errors: [], interstitialUpdates: [], interstitialEvents: [], samples: [],
  };
  window.report = report;
  const log = (name, detail) => { report.log.push([now(), name, detail === undefined ? '' : detail]); keep(report.log, 500); };
  if (!report.supported) { log('unsupported', 'hls.js missing or MediaSource unavailable'); return; }

  // hls.js's own log (not debug/trace chatter), kept for post-mortems of a failed run.
  report.hlsLog = [];
  const capture = (level) => (...args) => {
    report.hlsLog.push(now() + ' ' + level + ' ' + args.map((a) => (typeof a === 'string' ? a : String(a))).join(' '));
    keep(report.hlsLog, 3000);
  };
  const logger = { trace() {}, debug() {}, log: capture('log'), info: capture('info'), warn: capture('warn'), error: capture('error') };
  const config = { enableInterstitialPlayback: interstitials, debug: logger };
  if (params.get('appendInPlace') === '0') config.interstitialAppendInPlace = false;
  const hls = new Hls(config);
  window.hls = hls;
  const E = Hls.Events;

  hls.on(E.MANIFEST_PARSED, (e, d) => { log('MANIFEST_PARSED', d.levels.length + ' level(s)'); video.play().catch((err) => log('play() rejected', String(err))); });
  hls.on(E.LEVEL_UPDATED, (e, d) => {
    const det = d.details;
    report.levels.push({ t: now(), level: d.level, live: det.live, startSN: det.startSN, endSN: det.endSN,
      startCC: det.startCC, endCC: det.endCC, ads: det.fragments.filter((f) => f.url.includes('/ads/')).length });
    keep(report.levels, 200);
  });
  hls.on(E.FRAG_CHANGED, (e, d) => {
    const f = d.frag;
    report.frags.push({ t: now(), sn: f.sn, cc: f.cc, level: f.level, start: f.start, duration: f.duration, url: path(f.url) });
    keep(report.frags, 300);
  });
  const onError = (source) => (e, d) => {
    const url = (d.frag && d.frag.url) || d.url || (d.context && d.context.url) || '';
    const reason = d.reason || (d.error && String(d.error)) || (d.response && ('HTTP ' + d.response.code)) || '';
    report.errors.push({ t: now(), source, type: d.type, details: d.details, fatal: !!d.fatal, url: path(url), reason });
    keep(report.errors, 200);
    log(source + ' ERROR' + (d.fatal ? ' (fatal)' : ''), d.details + ' ' + path(url) + ' ' + reason);
  };
  hls.on(E.ERROR, onError('primary'));

  const ievent = (name, d) => {
    const ev = d.event;
    const entry = { t: now(), name, id: ev ? ev.identifier : null,
      asset: d.asset ? path(d.asset.uri) : null, index: d.assetListIndex === undefined ? null : d.assetListIndex };
    report.interstitialEvents.push(entry);
    keep(report.interstitialEvents, 200);
    log(name, (entry.id || '') + ' ' + (entry.asset || ''));
  };
  hls.on(E.INTERSTITIALS_UPDATED, (e, d) => {
    report.interstitialUpdates.push({ t: now(), removed: d.removedIds, scheduleLength: d.schedule.length,
      events: d.events.map((ev) => ({ id: ev.identifier, assetListUrl: ev.assetListUrl ? String(ev.assetListUrl) : null,
        startDate: ev.startDate.toISOString(), duration: ev.duration, resumeOffset: ev.resumeOffset })) });
    keep(report.interstitialUpdates, 100);
  });
  hls.on(E.ASSET_LIST_LOADING, (e, d) => ievent('ASSET_LIST_LOADING', d));
  hls.on(E.ASSET_LIST_LOADED, (e, d) => ievent('ASSET_LIST_LOADED', d));
  hls.on(E.INTERSTITIAL_STARTED, (e, d) => ievent('INTERSTITIAL_STARTED', d));
  hls.on(E.INTERSTITIAL_ASSET_PLAYER_CREATED, (e, d) => {
    ievent('INTERSTITIAL_ASSET_PLAYER_CREATED', d);
    // Each interstitial asset plays in its own Hls instance: record what it buffers and its errors
    // too. (Asset players emit no FRAG_CHANGED; their playback shows in INTERSTITIAL_ASSET_* events.)
    const child = d.player && d.player.hls;
    if (!child) { log('asset player without hls', ''); return; }
    const index = d.assetListIndex;
    child.on(E.FRAG_BUFFERED, (e2, f) => {
      report.assetFrags.push({ t: now(), asset: index, sn: f.frag.sn, cc: f.frag.cc, url: path(f.frag.url) });
      keep(report.assetFrags, 200);
    });
    child.on(E.ERROR, onError('asset ' + index));
  });
  hls.on(E.INTERSTITIAL_ASSET_STARTED, (e, d) => ievent('INTERSTITIAL_ASSET_STARTED', d));
  hls.on(E.INTERSTITIAL_ASSET_ENDED, (e, d) => ievent('INTERSTITIAL_ASSET_ENDED', d));
  hls.on(E.INTERSTITIAL_ASSET_ERROR, (e, d) => ievent('INTERSTITIAL_ASSET_ERROR', d));
  hls.on(E.INTERSTITIAL_ENDED, (e, d) => ievent('INTERSTITIAL_ENDED', d));
  hls.on(E.INTERSTITIALS_PRIMARY_RESUMED, (e, d) => { report.interstitialEvents.push({ t: now(), name: 'INTERSTITIALS_PRIMARY_RESUMED', id: null, asset: null, index: d.scheduleIndex }); log('INTERSTITIALS_PRIMARY_RESUMED'); });

  for (const name of ['waiting', 'stalled', 'error', 'ended']) {
    video.addEventListener(name, () => log('video.' + name, video.error ? video.error.message : ''));
  }
  document.addEventListener('visibilitychange', () => log('visibility', document.visibilityState));
  setInterval(() => {
    report.samples.push({ t: now(), ct: video.currentTime, paused: video.paused, rs: video.readyState });
    keep(report.samples, 400);
  }, 500);

  hls.loadSource(src);
  hls.attachMedia(video);
  log('loadSource', src);
})();
