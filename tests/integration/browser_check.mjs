// Drive the sluice web player in headless Chromium (playwright-core, Debian's
// /usr/bin/chromium) and report what happened as one JSON object on stdout.
// Used by test_origin_web.py, which makes the assertions; this script only
// measures. Steps: open the page, pick the stream, live playback, edge table,
// time-range replay, DVR scrub by clicking the timeline, go live, screenshot.
//
// usage: node browser_check.mjs '{"url": "http://127.0.0.1:PORT/", "stream": "cam1",
//         "screenshot": "/tmp/x.png", "chromium": "/usr/bin/chromium"}'
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const webDir = path.resolve(here, '../../origin/web');
const require = createRequire(path.join(webDir, 'package.json'));
const { chromium } = require('playwright-core');

const opt = JSON.parse(process.argv[2] || '{}');
const STEP_TIMEOUT_MS = opt.stepTimeoutMs || 20000;
const ADVANCE_S = opt.advanceSeconds || 2;
const REPLAY_LEN_S = 5;
const NEED_RECORDED_S = 9;
const DVR_BACK_S = 10;

const out = { steps: [], consoleErrors: [], pageErrors: [], playlistRequests: [] };
const t0 = Date.now();
function step(name, data) {
	out.steps.push({ name, ms: Date.now() - t0, ...data });
	process.stderr.write(`browser_check: ${name} ${JSON.stringify(data || {})}\n`);
}

async function main() {
	const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-chromium-'));
	const context = await chromium.launchPersistentContext(userDir, {
		executablePath: opt.chromium || '/usr/bin/chromium',
		headless: true,
		viewport: { width: 1280, height: 1000 },
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync',
			'--autoplay-policy=no-user-gesture-required'],
	});
	try {
		const page = context.pages()[0] || await context.newPage();
		page.on('console', (m) => {
			if (m.type() === 'error')
				out.consoleErrors.push(m.text());
		});
		page.on('pageerror', (e) => out.pageErrors.push(String(e)));
		page.on('request', (r) => {
			if (/\.m3u8(\?|$)/.test(r.url()))
				out.playlistRequests.push(r.url());
		});
		try {
			await run(page);
		} catch (e) {
			out.failState = await snapshot(page).catch(() => null);
			out.failUrl = await page.evaluate(() => window.sluicePlayer.state.url)
				.catch(() => null);
			if (opt.screenshot)
				await page.screenshot({ path: opt.screenshot, fullPage: true }).catch(() => {});
			throw e;
		}
	} finally {
		await context.close();
		fs.rmSync(userDir, { recursive: true, force: true });
	}
}

const P = () => window.sluicePlayer.state;

async function snapshot(page) {
	return page.evaluate(() => {
		const s = window.sluicePlayer.state;
		const v = document.getElementById('video');
		return {
			mode: s.mode, currentTime: v.currentTime, paused: v.paused,
			readyState: v.readyState, wallClock: window.sluicePlayer.wallClock(),
			counts: { ...s.counts }, lastPlaylist: { ...s.lastPlaylist },
			fatal: s.errors.filter((e) => e.fatal), errors: s.errors.slice(-5),
			now: Date.now(),
		};
	});
}

// wait until video.currentTime has advanced by ADVANCE_S from its first value > 0
async function waitAdvance(page, mode) {
	const start = await page.waitForFunction((m) => {
		const v = document.getElementById('video');
		return window.sluicePlayer.state.mode === m && v.currentTime > 0 && !v.paused &&
			v.currentTime;
	}, mode, { timeout: STEP_TIMEOUT_MS, polling: 100 }).then((h) => h.jsonValue());
	const first = await snapshot(page);
	await page.waitForFunction(([m, s, d]) => {
		const v = document.getElementById('video');
		return window.sluicePlayer.state.mode === m && v.currentTime >= s + d;
	}, [mode, start, ADVANCE_S], { timeout: STEP_TIMEOUT_MS, polling: 100 });
	const last = await snapshot(page);
	return { startTime: start, first, last, advanced: last.currentTime - start };
}

async function waitFrags(page, mode, n) {
	await page.waitForFunction(([m, k]) => {
		const s = window.sluicePlayer.state;
		return s.mode === m && s.counts.fragParsed >= k;
	}, [mode, n], { timeout: STEP_TIMEOUT_MS, polling: 100 });
	return snapshot(page);
}

// poll the streams API from node until the stream has `need` seconds recorded
async function pollStream(api, name, need) {
	const deadline = Date.now() + STEP_TIMEOUT_MS;
	for (;;) {
		const r = await fetch(api, { cache: 'no-store' });
		const s = r.ok ? (await r.json()).find((x) => x.stream === name) : null;
		if (s && s.last_us - s.first_us >= need * 1e6)
			return s;
		if (Date.now() > deadline)
			throw new Error(`stream ${name} has not recorded ${need} s: ${JSON.stringify(s)}`);
		await new Promise((res) => setTimeout(res, 250));
	}
}

async function run(page) {
	await page.goto(opt.url, { waitUntil: 'load' });
	out.h264 = await page.evaluate(() => window.MediaSource !== undefined &&
		MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E"'));
	if (opt.assumeNoH264)
		out.h264 = false; /* exercise the no-decoder path on a browser that has one */
	out.hlsSupported = await page.evaluate(() => !!(window.Hls && window.Hls.isSupported()));
	step('loaded', { h264: out.h264, hlsSupported: out.hlsSupported });

	// (c) stream list renders, pick the stream
	const btn = page.locator(`button.stream-btn[data-stream="${opt.stream}"]`);
	await btn.waitFor({ timeout: STEP_TIMEOUT_MS });
	out.streamButtonText = await btn.innerText();
	await btn.click();
	out.pressed = await btn.getAttribute('aria-pressed');
	step('selected', { text: out.streamButtonText });

	// (a) live
	if (out.h264) {
		out.live = await waitAdvance(page, 'live');
	} else {
		const base = (await snapshot(page)).counts.fragParsed;
		out.live = { last: await waitFrags(page, 'live', base + 3) };
	}
	out.liveStatus = await page.locator('#pos-utc').innerText();
	out.liveBehind = await page.locator('#pos-behind').innerText();
	step('live', { advanced: out.live.advanced, behind: out.liveBehind });

	// (c) edges table
	const rows = page.locator('#edges-body tr[data-edge]');
	await rows.first().waitFor({ timeout: STEP_TIMEOUT_MS });
	out.edgeRows = await rows.evaluateAll((trs) => trs.map((tr) =>
		Array.from(tr.cells, (c) => c.innerText.trim())));
	step('edges', { rows: out.edgeRows });

	// (b) replay of a past range: the first seconds of the recording
	const api = `${new URL(opt.url).origin}/api/v1/streams`;
	const rec = await pollStream(api, opt.stream, NEED_RECORDED_S);
	const from = Math.ceil(rec.first_us / 1e6) + 1;
	const to = from + REPLAY_LEN_S;
	out.replayRange = { from, to };
	await page.locator('input[name="tz"][value="utc"]').check();
	const iso = (s) => new Date(s * 1000).toISOString().slice(0, 19);
	await page.locator('#replay-from').fill(iso(from));
	await page.locator('#replay-to').fill(iso(to));
	out.exportCmd = await page.locator('#export-cmd').innerText();
	await page.locator('#replay-play').click();
	await page.waitForFunction(() => window.sluicePlayer.state.lastPlaylist.endList !== null &&
		window.sluicePlayer.state.mode === 'replay', null, { timeout: STEP_TIMEOUT_MS });
	out.replayPlaylistUrl = await page.evaluate(() => window.sluicePlayer.state.url);
	if (out.h264)
		out.replay = await waitAdvance(page, 'replay');
	else
		out.replay = { last: await waitFrags(page, 'replay', 2) };
	step('replay', { advanced: out.replay.advanced, wall: out.replay.last.wallClock,
		playlist: out.replay.last.lastPlaylist });

	// DVR: click the timeline DVR_BACK_S before now (well behind the live edge)
	await pollStream(api, opt.stream, DVR_BACK_S + 3);
	const box = await page.locator('#timeline').boundingBox();
	const win = Number(await page.locator('#dvr-window').inputValue()) * 1000;
	const now = await page.evaluate(() => Date.now());
	const target = now - DVR_BACK_S * 1000;
	const f = (target - (now - win)) / win;
	await page.mouse.click(box.x + f * box.width, box.y + box.height / 2);
	const clickedAt = await page.evaluate(() => Date.now());
	out.dvrTarget = target;
	step('dvr-click', { target, f, win, box });
	if (out.h264)
		out.dvr = await waitAdvance(page, 'dvr');
	else
		out.dvr = { last: await waitFrags(page, 'dvr', 2) };
	// expected position: the clicked moment (pixel-rounded) plus the time since
	out.dvrExpected = target + (out.dvr.last.now - clickedAt);
	out.dvrPixelMs = win / box.width;
	out.dvrUrl = await page.evaluate(() => window.sluicePlayer.state.url);
	step('dvr', { wall: out.dvr.last.wallClock, expected: out.dvrExpected, url: out.dvrUrl });
	await page.screenshot({ path: opt.screenshot, fullPage: true });

	await page.locator('#go-live').click();
	await page.waitForFunction(() => window.sluicePlayer.state.mode === 'live' &&
		window.sluicePlayer.state.counts.fragBuffered > 0, null, { timeout: STEP_TIMEOUT_MS });
	out.final = await snapshot(page);
	out.timelineSpans = await page.locator('#tl-spans .tl-span').count();
	out.sid = await page.locator('#sid').innerText();
	step('done', { spans: out.timelineSpans });
}

main().then(() => {
	out.ok = true;
	process.stdout.write(JSON.stringify(out) + '\n');
}, (e) => {
	out.ok = false;
	out.error = String(e && e.stack || e);
	process.stdout.write(JSON.stringify(out) + '\n');
	process.exitCode = 1;
});
