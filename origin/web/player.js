/*
 * sluice web player (served by sluice-origin at "/", no build step).
 *
 * Panels: stream list (GET /api/v1/streams, every STREAMS_REFRESH_MS), live view
 * (hls.js on /hls/<s>/master.m3u8), DVR scrub bar (recorded spans from
 * /api/v1/streams/<s>/segments; a click plays /hls/<s>/<v>/dvr.m3u8?seconds=N from
 * that wall-clock moment), time-range replay (/hls/<s>/<v>/replay.m3u8?from=&to=)
 * with the matching `sluice export` command, and the edge table (/api/v1/edges,
 * every EDGES_REFRESH_MS). Every playlist request carries the viewer id `sid`
 * (random, kept in sessionStorage) so the origin steers this viewer consistently.
 *
 * Wall-clock positions come from EXT-X-PROGRAM-DATE-TIME (hls.js frag.programDateTime).
 * window.sluicePlayer exposes the state and counters for tests and the console.
 */
(function () {
	'use strict';

	const STREAMS_REFRESH_MS = 3000;
	const EDGES_REFRESH_MS = 2000;
	const TIMELINE_REFRESH_MS = 4000;
	const STATUS_TICK_MS = 250;
	const FETCH_TIMEOUT_MS = 5000;
	const LIVE_RECENT_S = 15;       /* a stream is "on air" if its last segment is this recent */
	const DVR_MARGIN_S = 20;        /* dvr.m3u8 reaches this far before the scrub target */
	const NEAR_LIVE_S = 6;          /* a scrub this close to now goes live instead */
	const SPAN_JOIN_MS = 300;       /* segments closer than this join into one drawn span */
	const REFETCH_OVERLAP_MS = 15000;
	const KEY_STEP_S = 10;
	const KEY_PAGE_S = 60;
	const KEY_SEEK_DELAY_MS = 400;
	const RETRY_DELAY_MS = 2000;
	const MAX_RETRIES = 30;
	const MAX_ERRORS_KEPT = 30;
	const AXIS_TICKS = 5;
	const DEFAULT_WINDOW_MAX_S = 900; /* the scrub window picked on select covers at most this */
	const HOVER_EDGE = 0.05;
	const SID_KEY = 'sluice.sid';
	const SID_BYTES = 12;

	const $ = (id) => document.getElementById(id);
	const video = $('video');

	const st = {
		sid: viewerId(),
		streams: [],
		stream: null,          /* selected stream object from the API */
		variant: '',           /* '' = automatic (live ABR); else a variant name */
		mode: 'idle',          /* idle | live | dvr | replay */
		url: null,             /* playlist URL being played */
		hls: null,
		frag: null,            /* last FRAG_CHANGED fragment (main) */
		details: null,         /* last loaded level details */
		seekDate: null,        /* DVR target (ms since epoch) awaiting the playlist */
		retries: 0,
		mediaRecoveredAt: 0,
		spans: new Map(),      /* start_us -> [start_ms, end_ms, discontinuity] */
		spanStream: '',
		spanFetchedTo: 0,
		drag: null,
		keyTimer: null,
		keyDate: null,
		counts: null,          /* event counters of the current playback */
		playbacks: 0,
		errors: [],            /* [{time, fatal, type, details}] newest last */
		lastPlaylist: { url: null, live: null, endList: null, fragments: 0 },
		apiOk: { streams: false, edges: false },
	};
	window.sluicePlayer = {
		state: st,
		selectStream: selectStream,
		goLive: goLive,
		seekToDate: seekToDate,
		playReplay: playReplay,
		wallClock: wallClockMs,
	};

	/* ---------- small helpers ---------- */

	function viewerId() {
		let s = null;
		try {
			s = window.sessionStorage.getItem(SID_KEY);
		} catch (e) {
			s = null;
		}
		if (!s || !/^[0-9a-f]{8,64}$/.test(s)) {
			const b = new Uint8Array(SID_BYTES);
			window.crypto.getRandomValues(b);
			s = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
			try {
				window.sessionStorage.setItem(SID_KEY, s);
			} catch (e) {
				/* private mode: the id lives as long as the page */
			}
		}
		return s;
	}

	function el(tag, attrs, children) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k === 'class')
				e.className = v;
			else if (k === 'text')
				e.textContent = v;
			else if (k.startsWith('on'))
				e.addEventListener(k.slice(2), v);
			else
				e.setAttribute(k, v === true ? '' : String(v));
		}
		for (const c of [].concat(children || [])) {
			if (c !== null && c !== undefined)
				e.append(c);
		}
		return e;
	}

	async function fetchJSON(url) {
		const ac = new AbortController();
		const t = setTimeout(() => ac.abort(), FETCH_TIMEOUT_MS);
		try {
			const r = await fetch(url, { signal: ac.signal, cache: 'no-store' });
			if (!r.ok)
				throw new Error(`${r.status} ${r.statusText}`.trim());
			return await r.json();
		} finally {
			clearTimeout(t);
		}
	}

	function enc(s) {
		return encodeURIComponent(s);
	}

	function withSid(url) {
		const u = new URL(url, location.href);
		if (!u.searchParams.has('sid'))
			u.searchParams.set('sid', st.sid);
		return u.toString();
	}

	const pad = (n, w) => String(n).padStart(w || 2, '0');

	function fmtUTC(ms) {
		const d = new Date(ms);
		return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
			`${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.` +
			`${Math.floor(d.getUTCMilliseconds() / 100)}Z`;
	}

	function fmtLocal(ms, withDate) {
		const d = new Date(ms);
		const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
		if (!withDate)
			return t;
		return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
	}

	function isoSeconds(ms) {
		return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
	}

	function fmtAgo(ms) {
		const s = Math.max(0, (Date.now() - ms) / 1000);
		if (s < 60)
			return `${s.toFixed(1)} s ago`;
		if (s < 3600)
			return `${Math.floor(s / 60)} min ago`;
		return `${(s / 3600).toFixed(1)} h ago`;
	}

	/* time value from the API: RFC 3339 string, or a number (s, ms or µs by size) */
	function toMs(v) {
		if (v === null || v === undefined || v === '')
			return null;
		if (typeof v === 'number') {
			if (v > 1e14)
				return v / 1000;
			if (v > 1e11)
				return v;
			return v * 1000;
		}
		const n = Date.parse(v);
		return Number.isFinite(n) ? n : null;
	}

	function streamFirstMs(s) {
		return Number.isFinite(s.first_us) ? s.first_us / 1000 : toMs(s.first);
	}

	function streamLastMs(s) {
		return Number.isFinite(s.last_us) ? s.last_us / 1000 : toMs(s.last);
	}

	function setConn(ok, text) {
		const c = $('conn');
		c.textContent = text;
		c.classList.toggle('bad', !ok);
	}

	function showError(msg) {
		const e = $('error');
		if (!msg) {
			e.hidden = true;
			e.textContent = '';
			return;
		}
		e.hidden = false;
		e.textContent = msg;
	}

	function noteError(data) {
		st.counts.errors++;
		if (data.fatal)
			st.counts.fatal++;
		st.errors.push({ time: Date.now(), fatal: !!data.fatal, type: data.type,
			details: data.details, mode: st.mode });
		if (st.errors.length > MAX_ERRORS_KEPT)
			st.errors.shift();
	}

	/* ---------- stream list ---------- */

	async function refreshStreams() {
		try {
			const list = await fetchJSON('/api/v1/streams');
			st.streams = Array.isArray(list) ? list : [];
			st.apiOk.streams = true;
			setConn(true, `origin ok · ${fmtLocal(Date.now())}`);
			renderStreams();
			if (!st.stream) {
				const want = new URLSearchParams(location.hash.slice(1)).get('stream');
				if (want && st.streams.some((s) => s.stream === want))
					selectStream(want);
			} else {
				const cur = st.streams.find((s) => s.stream === st.stream.stream);
				if (cur)
					st.stream = cur;
			}
		} catch (e) {
			st.apiOk.streams = false;
			setConn(false, `origin unreachable: ${e.message}`);
		}
	}

	function variantSummary(s) {
		const vs = Array.isArray(s.variants) ? s.variants : [];
		if (!vs.length)
			return 'no variants';
		return vs.map((v) => {
			const size = v.width && v.height ? `${v.width}×${v.height}` : '';
			const kbps = v.bandwidth ? `${Math.round(v.bandwidth / 1000)} kb/s` : '';
			return [v.name, size, kbps].filter(Boolean).join(' ');
		}).join(', ');
	}

	/* one list item per stream, kept across refreshes so focus and clicks survive */
	function streamItem(name) {
		const parts = {
			dot: el('span', { class: 'dot' }),
			air: el('span', { class: 'sr-only' }),
			variants: el('span', { class: 'stream-meta' }),
			tenant: el('span', { class: 'stream-meta' }),
			range: el('span', { class: 'stream-meta' }),
		};
		const btn = el('button', {
			type: 'button', class: 'stream-btn', 'data-stream': name,
			onclick: () => selectStream(name),
		}, [
			el('span', { class: 'stream-name' }, [parts.dot, el('span', { text: name }), parts.air]),
			parts.variants, parts.tenant, parts.range,
		]);
		const li = el('li', { 'data-stream': name }, btn);
		li.parts = parts;
		li.btn = btn;
		return li;
	}

	function renderStreams() {
		const ul = $('stream-list');
		ul.setAttribute('aria-busy', 'false');
		if (!st.streams.length) {
			ul.replaceChildren(el('li', { class: 'empty', text: 'No streams recorded yet.' }));
			return;
		}
		const old = new Map();
		for (const li of ul.children) {
			if (li.parts)
				old.set(li.dataset.stream, li);
		}
		const items = st.streams.map((s) => {
			const li = old.get(s.stream) || streamItem(s.stream);
			const p = li.parts;
			const last = streamLastMs(s);
			const first = streamFirstMs(s);
			const onAir = last !== null && Date.now() - last < LIVE_RECENT_S * 1000;
			const range = first !== null && last !== null ?
				` · ${fmtLocal(first, true)} → ${fmtLocal(last)}` : '';
			p.dot.className = onAir ? 'dot on' : 'dot';
			p.dot.title = onAir ? 'on air' : 'not recording now';
			p.air.textContent = onAir ? '(on air)' : '';
			p.variants.textContent = variantSummary(s);
			p.tenant.textContent = s.tenant ? `tenant ${s.tenant}` : '';
			p.tenant.hidden = !s.tenant;
			p.range.textContent = `${s.segments ?? '?'} segments${range}`;
			li.btn.setAttribute('aria-pressed',
				st.stream && st.stream.stream === s.stream ? 'true' : 'false');
			return li;
		});
		/* reorder or replace only when the set of streams changed */
		const same = items.length === ul.children.length &&
			items.every((li, k) => ul.children[k] === li);
		if (!same)
			ul.replaceChildren(...items);
	}

	function selectStream(name) {
		const s = st.streams.find((x) => x.stream === name);
		if (!s)
			return false;
		st.stream = s;
		st.variant = '';
		const sel = $('variant');
		sel.replaceChildren(el('option', { value: '', text: 'auto' }));
		for (const v of s.variants || [])
			sel.append(el('option', { value: v.name, text: v.name }));
		sel.disabled = false;
		$('player-h').textContent = s.stream;
		$('replay-play').disabled = false;
		history.replaceState(null, '', `#stream=${enc(s.stream)}`);
		renderStreams();
		pickWindow(s);
		resetSpans();
		refreshTimeline();
		defaultReplayRange();
		goLive();
		return true;
	}

	/* the concrete variant for per-variant playlists and the segment API */
	function concreteVariant() {
		if (st.variant)
			return st.variant;
		const vs = (st.stream && st.stream.variants) || [];
		return vs.length ? vs[0].name : 'src';
	}

	/* ---------- playback ---------- */

	function stopPlayback() {
		if (st.hls) {
			st.hls.destroy();
			st.hls = null;
		}
		st.frag = null;
		st.details = null;
		st.lastPlaylist = { url: null, live: null, endList: null, fragments: 0 };
	}

	function zeroCounts() {
		return { manifestLoaded: 0, levelLoaded: 0, fragLoaded: 0, fragParsed: 0,
			fragBuffered: 0, errors: 0, fatal: 0 };
	}

	function setMode(m) {
		st.mode = m;
		const b = $('mode');
		b.dataset.mode = m;
		b.textContent = m;
		$('go-live').disabled = !st.stream || m === 'live';
	}

	function baseConfig() {
		return {
			enableWorker: true,
			backBufferLength: 60,
			xhrSetup: (xhr, url) => {
				/* playlists named by the master playlist get the viewer id too */
				if (/\.m3u8(\?|$)/.test(url) && url.indexOf('sid=') < 0)
					xhr.open('GET', withSid(url), true);
			},
		};
	}

	function startPlayback(mode, url, extra, onManifest) {
		stopPlayback();
		showError('');
		setMode(mode);
		st.url = url;
		st.counts = zeroCounts();
		st.playbacks++;
		const Hls = window.Hls;
		if (!Hls || !Hls.isSupported()) {
			if (video.canPlayType('application/vnd.apple.mpegurl')) {
				video.src = url;
				video.play().catch(() => {});
			} else {
				showError('This browser cannot play HLS here (no MediaSource support).');
			}
			return;
		}
		const hls = new Hls(Object.assign(baseConfig(), extra || {}));
		st.hls = hls;
		const E = Hls.Events;
		hls.on(E.MANIFEST_LOADED, (ev, data) => {
			st.counts.manifestLoaded++;
			if (onManifest)
				onManifest(hls, data);
		});
		hls.on(E.MANIFEST_PARSED, () => {
			pickLiveLevel(hls);
			video.play().catch(() => {});
		});
		hls.on(E.LEVEL_LOADED, (ev, data) => {
			st.counts.levelLoaded++;
			st.details = data.details;
			st.lastPlaylist = {
				url: data.details.url,
				live: !!data.details.live,
				endList: !data.details.live,
				fragments: data.details.fragments.length,
			};
		});
		hls.on(E.FRAG_LOADED, () => { st.counts.fragLoaded++; });
		hls.on(E.FRAG_PARSED, () => { st.counts.fragParsed++; });
		hls.on(E.FRAG_BUFFERED, () => {
			st.counts.fragBuffered++;
			st.retries = 0;
		});
		hls.on(E.FRAG_CHANGED, (ev, data) => { st.frag = data.frag; });
		hls.on(E.ERROR, (ev, data) => onHlsError(hls, data));
		hls.loadSource(url);
		hls.attachMedia(video);
	}

	function onHlsError(hls, data) {
		noteError(data);
		if (!data.fatal || hls !== st.hls)
			return;
		const Hls = window.Hls;
		if (data.type === Hls.ErrorTypes.MEDIA_ERROR &&
		    Date.now() - st.mediaRecoveredAt > RETRY_DELAY_MS * 2) {
			st.mediaRecoveredAt = Date.now();
			showError(`media error (${data.details}), recovering…`);
			hls.recoverMediaError();
			return;
		}
		const what = data.response && data.response.code ?
			`${data.details} (HTTP ${data.response.code})` : data.details;
		if (st.retries >= MAX_RETRIES) {
			showError(`playback stopped: ${what}`);
			stopPlayback();
			return;
		}
		st.retries++;
		showError(`playback error: ${what}; retrying…`);
		const mode = st.mode;
		const again = mode === 'dvr' ? () => seekToDate(wallClockMs() || st.seekDate) :
			mode === 'replay' ? () => playReplay() : () => goLive();
		hls.destroy();
		st.hls = null;
		setTimeout(() => {
			if (st.mode === mode && !st.hls)
				again();
		}, RETRY_DELAY_MS);
	}

	function pickLiveLevel(hls) {
		if (st.mode !== 'live' || !st.variant)
			return;
		const i = hls.levels.findIndex((l) => {
			const urls = [].concat(l.url || []);
			return l.name === st.variant || urls.some((u) => u.indexOf(`/${st.variant}/`) >= 0);
		});
		if (i >= 0)
			hls.currentLevel = i;
	}

	function goLive() {
		if (!st.stream)
			return;
		const url = withSid(`/hls/${enc(st.stream.stream)}/master.m3u8`);
		startPlayback('live', url, {
			lowLatencyMode: true,
			liveSyncDurationCount: 3,
			liveMaxLatencyDurationCount: 10,
			maxLiveSyncPlaybackRate: 1.5,
		});
	}

	/* media time of wall-clock ms in level details (PROGRAM-DATE-TIME), or null */
	function posForDate(details, ms) {
		const fr = (details && details.fragments) || [];
		if (!fr.length || !Number.isFinite(fr[0].programDateTime))
			return null;
		for (const f of fr) {
			const pdt = f.programDateTime;
			if (!Number.isFinite(pdt))
				continue;
			if (ms < pdt)
				return f.start; /* in a gap (or before the list): next recorded moment */
			if (ms < pdt + f.duration * 1000)
				return f.start + (ms - pdt) / 1000;
		}
		const last = fr[fr.length - 1];
		return last.start + Math.max(0, last.duration - 1);
	}

	function seekToDate(ms) {
		if (!st.stream || !Number.isFinite(ms))
			return;
		const now = Date.now();
		if (ms > now - NEAR_LIVE_S * 1000) {
			if (st.mode !== 'live')
				goLive();
			return;
		}
		/* already playing a DVR list that holds the moment: seek within it */
		if (st.mode === 'dvr' && st.hls && st.details) {
			const f = st.details.fragments;
			if (f.length && Number.isFinite(f[0].programDateTime) &&
			    ms >= f[0].programDateTime + 1000) {
				const pos = posForDate(st.details, ms);
				if (pos !== null) {
					video.currentTime = pos;
					video.play().catch(() => {});
					return;
				}
			}
		}
		const seconds = Math.ceil((now - ms) / 1000) + DVR_MARGIN_S;
		const v = concreteVariant();
		const url = withSid(`/hls/${enc(st.stream.stream)}/${enc(v)}/dvr.m3u8?seconds=${seconds}`);
		st.seekDate = ms;
		startPlayback('dvr', url, {
			autoStartLoad: false,
			liveSyncDurationCount: 3,
			liveMaxLatencyDurationCount: Infinity, /* never jump back to the live edge */
			maxLiveSyncPlaybackRate: 1,
		}, (hls, data) => {
			const lv = data.levels && data.levels[0];
			const pos = lv && lv.details ? posForDate(lv.details, ms) : null;
			hls.startLoad(pos === null ? -1 : pos);
		});
	}

	function readRange() {
		const utc = document.querySelector('input[name="tz"]:checked').value === 'utc';
		const from = parseInput($('replay-from').value, utc);
		const to = parseInput($('replay-to').value, utc);
		return { from, to };
	}

	function playReplay() {
		if (!st.stream)
			return false;
		const { from, to } = readRange();
		const msg = $('replay-msg');
		if (from === null || to === null) {
			msg.textContent = 'Enter both times.';
			return false;
		}
		if (to <= from) {
			msg.textContent = '"To" must be after "From".';
			return false;
		}
		msg.textContent = `Replaying ${fmtUTC(from)} → ${fmtUTC(to)} ` +
			`(${Math.round((to - from) / 1000)} s).`;
		const v = concreteVariant();
		const url = withSid(`/hls/${enc(st.stream.stream)}/${enc(v)}/replay.m3u8` +
			`?from=${Math.floor(from / 1000)}&to=${Math.ceil(to / 1000)}`);
		startPlayback('replay', url, { startPosition: 0 });
		return true;
	}

	/* current playback position as wall-clock ms, from PROGRAM-DATE-TIME */
	function wallClockMs() {
		const f = st.frag;
		if (f && Number.isFinite(f.programDateTime))
			return f.programDateTime + (video.currentTime - f.start) * 1000;
		if (st.hls && st.hls.playingDate)
			return st.hls.playingDate.getTime();
		return null;
	}

	function bufferAhead() {
		const b = video.buffered;
		for (let i = 0; i < b.length; i++) {
			if (video.currentTime >= b.start(i) - 0.1 && video.currentTime <= b.end(i))
				return b.end(i) - video.currentTime;
		}
		return 0;
	}

	function tickStatus() {
		const ms = wallClockMs();
		if (ms === null || st.mode === 'idle') {
			$('pos-utc').textContent = '–';
			$('pos-local').textContent = '–';
			$('pos-behind').textContent = '–';
		} else {
			$('pos-utc').textContent = fmtUTC(ms);
			$('pos-local').textContent = fmtLocal(ms, true);
			$('pos-behind').textContent = st.mode === 'replay' ? 'replay' :
				`${Math.max(0, (Date.now() - ms) / 1000).toFixed(1)} s`;
		}
		$('pos-buffer').textContent = st.hls ? `${bufferAhead().toFixed(1)} s` : '–';
		drawHead(ms);
	}

	/* ---------- DVR timeline ---------- */

	function windowMs() {
		return Number($('dvr-window').value) * 1000;
	}

	/* the smallest scrub window that shows the whole recording, up to the default max */
	function pickWindow(s) {
		const first = streamFirstMs(s);
		const age = first === null ? Infinity : (Date.now() - first) / 1000;
		const opts = Array.from($('dvr-window').options, (o) => Number(o.value));
		const fit = opts.find((v) => v >= age && v <= DEFAULT_WINDOW_MAX_S);
		$('dvr-window').value = String(fit || DEFAULT_WINDOW_MAX_S);
	}

	function resetSpans() {
		st.spans = new Map();
		st.spanStream = st.stream ? `${st.stream.stream}/${concreteVariant()}` : '';
		st.spanFetchedTo = 0;
	}

	async function refreshTimeline() {
		if (!st.stream)
			return;
		const key = `${st.stream.stream}/${concreteVariant()}`;
		if (key !== st.spanStream)
			resetSpans();
		const now = Date.now();
		const lo = now - windowMs();
		const from = Math.max(lo, st.spanFetchedTo - REFETCH_OVERLAP_MS);
		const url = `/api/v1/streams/${enc(st.stream.stream)}/segments` +
			`?variant=${enc(concreteVariant())}` +
			`&from=${Math.floor(from / 1000)}&to=${Math.ceil(now / 1000) + 60}`;
		try {
			const recs = await fetchJSON(url);
			if (key !== st.spanStream)
				return; /* the stream changed meanwhile */
			for (const r of Array.isArray(recs) ? recs : []) {
				const a = r.start_us / 1000;
				st.spans.set(r.start_us, [a, a + r.duration_us / 1000, !!r.discontinuity]);
			}
			for (const [k, s] of st.spans) {
				if (s[1] < lo)
					st.spans.delete(k);
			}
			st.spanFetchedTo = now;
		} catch (e) {
			/* keep the old spans; the connection line shows API trouble */
		}
		drawSpans();
	}

	function mergedSpans() {
		const segs = Array.from(st.spans.values()).sort((a, b) => a[0] - b[0]);
		const out = [];
		for (const s of segs) {
			const cur = out[out.length - 1];
			if (cur && !s[2] && s[0] <= cur.end + SPAN_JOIN_MS)
				cur.end = Math.max(cur.end, s[1]);
			else
				out.push({ start: s[0], end: s[1], disc: s[2] });
		}
		return out;
	}

	function tlRange() {
		const to = Date.now();
		return { from: to - windowMs(), to };
	}

	function drawSpans() {
		const { from, to } = tlRange();
		const w = to - from;
		const box = $('tl-spans');
		const spans = mergedSpans();
		box.replaceChildren();
		for (const s of spans) {
			const a = Math.max(s.start, from);
			const b = Math.min(s.end, to);
			if (b <= a)
				continue;
			box.append(el('div', {
				class: s.disc ? 'tl-span disc' : 'tl-span',
				style: `left:${((a - from) / w) * 100}%;width:${((b - a) / w) * 100}%`,
				title: `${fmtLocal(s.start)} – ${fmtLocal(s.end)}`,
			}));
		}
		const axis = $('tl-axis');
		axis.replaceChildren();
		for (let i = 0; i < AXIS_TICKS; i++) {
			const f = i / (AXIS_TICKS - 1);
			const cls = i === 0 ? 'first' : i === AXIS_TICKS - 1 ? 'last' : null;
			axis.append(el('span', { class: cls, style: `left:${f * 100}%`,
				text: i === AXIS_TICKS - 1 ? 'now' : fmtLocal(from + f * w) }));
		}
		const tl = $('timeline');
		tl.setAttribute('aria-valuemin', String(Math.floor(from / 1000)));
		tl.setAttribute('aria-valuemax', String(Math.floor(to / 1000)));
	}

	function drawHead(ms) {
		const head = $('tl-head');
		const tl = $('timeline');
		const shown = st.drag ? st.drag.ms : st.keyDate !== null ? st.keyDate : ms;
		if (shown === null || shown === undefined || st.mode === 'idle') {
			head.hidden = true;
			tl.setAttribute('aria-valuetext', st.spans.size ? 'not playing' : 'no recording');
			return;
		}
		const { from, to } = tlRange();
		const f = Math.min(1, Math.max(0, (shown - from) / (to - from)));
		head.hidden = false;
		head.style.left = `${f * 100}%`;
		tl.setAttribute('aria-valuenow', String(Math.floor(shown / 1000)));
		tl.setAttribute('aria-valuetext', `${fmtLocal(shown, true)} local, ${st.mode}`);
	}

	function dateAtX(clientX) {
		const r = $('timeline').getBoundingClientRect();
		const f = Math.min(1, Math.max(0, (clientX - r.left) / r.width));
		const { from, to } = tlRange();
		return { ms: from + f * (to - from), f };
	}

	function showHover(ms, f) {
		const h = $('tl-hover');
		h.hidden = false;
		h.style.left = `${Math.min(1 - HOVER_EDGE, Math.max(HOVER_EDGE, f)) * 100}%`;
		h.textContent = fmtLocal(ms);
	}

	function setupTimeline() {
		const tl = $('timeline');
		tl.addEventListener('pointerdown', (e) => {
			if (!st.stream || e.button !== 0)
				return;
			tl.setPointerCapture(e.pointerId);
			const p = dateAtX(e.clientX);
			st.drag = { ms: p.ms };
			showHover(p.ms, p.f);
		});
		tl.addEventListener('pointermove', (e) => {
			const p = dateAtX(e.clientX);
			if (st.drag)
				st.drag.ms = p.ms;
			showHover(p.ms, p.f);
		});
		tl.addEventListener('pointerup', (e) => {
			if (!st.drag)
				return;
			const ms = dateAtX(e.clientX).ms;
			st.drag = null;
			seekToDate(ms);
		});
		tl.addEventListener('pointercancel', () => { st.drag = null; });
		tl.addEventListener('pointerleave', () => {
			if (!st.drag)
				$('tl-hover').hidden = true;
		});
		tl.addEventListener('keydown', (e) => {
			if (!st.stream)
				return;
			const steps = { ArrowLeft: -KEY_STEP_S, ArrowRight: KEY_STEP_S,
				PageUp: -KEY_PAGE_S, PageDown: KEY_PAGE_S };
			if (e.key === 'End') {
				e.preventDefault();
				goLive();
				return;
			}
			let target;
			if (e.key === 'Home') {
				const sp = mergedSpans();
				target = sp.length ? Math.max(sp[0].start, tlRange().from) : tlRange().from;
			} else if (e.key in steps) {
				const base = st.keyDate !== null ? st.keyDate : wallClockMs() || Date.now();
				target = base + steps[e.key] * 1000;
			} else {
				return;
			}
			e.preventDefault();
			st.keyDate = target;
			clearTimeout(st.keyTimer);
			st.keyTimer = setTimeout(() => {
				const t = st.keyDate;
				st.keyDate = null;
				seekToDate(t);
			}, KEY_SEEK_DELAY_MS);
		});
		$('go-live').addEventListener('click', goLive);
		$('dvr-window').addEventListener('change', () => {
			resetSpans();
			refreshTimeline();
		});
		$('variant').addEventListener('change', (e) => {
			st.variant = e.target.value;
			resetSpans();
			refreshTimeline();
			updateExport();
			if (st.mode === 'live')
				goLive();
		});
	}

	/* ---------- replay range and export hint ---------- */

	function tzUTC() {
		return document.querySelector('input[name="tz"]:checked').value === 'utc';
	}

	function toInput(ms, utc) {
		const d = new Date(Math.floor(ms / 1000) * 1000);
		if (utc) {
			return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T` +
				`${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
		}
		return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
			`${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
	}

	function parseInput(v, utc) {
		const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?$/.exec(v || '');
		if (!m)
			return null;
		const n = m.slice(1, 7).map((x) => Number(x || 0));
		const ms = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
		if (utc)
			return Date.UTC(n[0], n[1] - 1, n[2], n[3], n[4], n[5], ms);
		return new Date(n[0], n[1] - 1, n[2], n[3], n[4], n[5], ms).getTime();
	}

	function defaultReplayRange() {
		const s = st.stream;
		const last = (s && streamLastMs(s)) || Date.now();
		const first = (s && streamFirstMs(s)) || last - 60000;
		const to = Math.max(first, Math.min(Date.now(), last) - 10000);
		const from = Math.max(first, to - 60000);
		setRange(from, to);
	}

	function setRange(from, to) {
		const utc = tzUTC();
		$('replay-from').value = toInput(from, utc);
		$('replay-to').value = toInput(to, utc);
		updateExport();
	}

	function updateExport() {
		const out = $('export-cmd');
		if (!st.stream) {
			out.textContent = 'pick a stream and a range';
			return;
		}
		const { from, to } = readRange();
		if (from === null || to === null || to <= from) {
			out.textContent = 'pick a valid range ("To" after "From")';
			return;
		}
		const name = `${st.stream.stream}-${isoSeconds(from).replace(/[-:]/g, '')}.mp4`;
		out.textContent = `sluice export --origin ${location.origin} --stream ${st.stream.stream}` +
			` --variant ${concreteVariant()} --from ${isoSeconds(from)} --to ${isoSeconds(to)}` +
			` -o ${name}`;
	}

	function setupReplay() {
		let tzName = 'browser';
		try {
			tzName = Intl.DateTimeFormat().resolvedOptions().timeZone || tzName;
		} catch (e) {
			/* keep the generic name */
		}
		$('tz-name').textContent = tzName;
		let wasUTC = tzUTC();
		for (const r of document.querySelectorAll('input[name="tz"]')) {
			r.addEventListener('change', () => {
				/* keep the same instants when the time zone of the inputs changes */
				const from = parseInput($('replay-from').value, wasUTC);
				const to = parseInput($('replay-to').value, wasUTC);
				wasUTC = tzUTC();
				if (from !== null && to !== null)
					setRange(from, to);
			});
		}
		$('replay-from').addEventListener('input', updateExport);
		$('replay-to').addEventListener('input', updateExport);
		$('replay-form').addEventListener('submit', (e) => {
			e.preventDefault();
			playReplay();
		});
		$('export-copy').addEventListener('click', async () => {
			const text = $('export-cmd').textContent;
			try {
				await navigator.clipboard.writeText(text);
			} catch (e) {
				const sel = window.getSelection();
				const r = document.createRange();
				r.selectNodeContents($('export-cmd'));
				sel.removeAllRanges();
				sel.addRange(r);
				document.execCommand('copy');
			}
			$('export-copy').textContent = 'Copied';
			setTimeout(() => { $('export-copy').textContent = 'Copy'; }, 1500);
		});
	}

	/* ---------- edges ---------- */

	function edgeState(e) {
		if (e.draining)
			return { text: e.state || 'draining', cls: 'draining' };
		if (e.healthy === false)
			return { text: e.state || 'down', cls: 'down' };
		return { text: e.state || 'healthy', cls: 'ok' };
	}

	async function refreshEdges() {
		let list;
		try {
			list = await fetchJSON('/api/v1/edges');
			st.apiOk.edges = true;
		} catch (e) {
			st.apiOk.edges = false;
			$('edges-body').replaceChildren(el('tr', {}, el('td',
				{ colspan: 5, class: 'empty', text: `cannot load edges: ${e.message}` })));
			return;
		}
		const body = $('edges-body');
		body.replaceChildren();
		if (!Array.isArray(list) || !list.length) {
			body.append(el('tr', {}, el('td', { colspan: 5, class: 'empty',
				text: 'No edges registered: segments are served by the origin itself.' })));
			return;
		}
		for (const e of list) {
			const s = edgeState(e);
			const load = Number(e.load) || 0;
			const cap = Number(e.capacity) || 0;
			const frac = cap > 0 ? Math.min(1, load / cap) : 0;
			const hb = toMs(e.last_heartbeat);
			body.append(el('tr', { 'data-edge': e.id }, [
				el('td', { text: e.id }),
				el('td', { class: 'url', text: e.url }),
				el('td', {}, el('span', { class: `state ${s.cls}`, text: s.text })),
				el('td', {}, [
					document.createTextNode(`${load} / ${cap || '?'}`),
					el('span', { class: 'loadbar', role: 'img',
						'aria-label': `${Math.round(frac * 100)}% of capacity` },
					el('i', { style: `width:${frac * 100}%` })),
				]),
				el('td', { text: hb ? fmtAgo(hb) : 'never (probes only)',
					title: hb ? fmtUTC(hb) : null }),
			]));
		}
	}

	/* ---------- start ---------- */

	function every(ms, fn) {
		fn();
		return setInterval(fn, ms);
	}

	st.counts = zeroCounts();
	$('sid').textContent = st.sid;
	setupTimeline();
	setupReplay();
	setMode('idle');
	every(STREAMS_REFRESH_MS, refreshStreams);
	every(EDGES_REFRESH_MS, refreshEdges);
	setInterval(refreshTimeline, TIMELINE_REFRESH_MS);
	setInterval(drawSpans, 1000);
	setInterval(tickStatus, STATUS_TICK_MS);
	if (!window.Hls)
		showError('hls.js did not load (/web/hls.min.js); run tools/deps.sh on the origin host.');
}());
