/// `GET /`: one self-contained page (inline CSS and script, no external assets, so it works offline and
/// under the Content-Security-Policy the route sends): choose or drop an image, pick a size (the aspect ratio
/// is shown and can be kept), a method and a format; a progress bar follows `GET /jobs/{id}` for queued
/// methods, with the elapsed time and an estimate of what is left; the result appears next to the input with a
/// download link; problem+json errors are shown in words. It reads `GET /limits` for the API's default method
/// and a pre-filled size the server takes (a dropped camera photo would otherwise get a 422).
/// Tested end to end in headless Chromium by Tests/ops/test_web.py.
enum WebPage {
    static let html: [UInt8] = Array(text.utf8)

    /// Only this page's own inline style and script, images from blob: URLs, requests to this origin.
    static let contentSecurityPolicy = "default-src 'none'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self' blob:; form-action 'self'; base-uri 'none'"

    static let text = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>deepresize</title>
<link rel="icon" href="data:,">
<style>
  :root { --ink: #1d2430; --muted: #5d6878; --line: #d8dee8; --accent: #2f6fd6; --bad: #b3261e; --bg: #f5f7fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
  header { padding: 18px 28px 6px; }
  header h1 { margin: 0; font-size: 22px; }
  header p { margin: 4px 0 0; color: var(--muted); }
  main { display: grid; grid-template-columns: 320px 1fr; gap: 22px; padding: 16px 28px 28px; align-items: start; }
  .panel { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 16px; }
  #drop { border: 2px dashed var(--line); border-radius: 8px; padding: 18px 10px; text-align: center; color: var(--muted); cursor: pointer; }
  #drop.over { border-color: var(--accent); background: #eef4ff; }
  #drop input { display: none; }
  label { display: block; font-size: 13px; color: var(--muted); margin: 12px 0 4px; }
  input[type=number], select { width: 100%; padding: 7px 8px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
  .row { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
  .check { display: flex; gap: 6px; align-items: center; margin-top: 8px; color: var(--muted); font-size: 13px; }
  .check input { margin: 0; }
  #ratio { font-size: 13px; color: var(--muted); margin-top: 6px; min-height: 1.2em; }
  #deep-options { display: none; }
  #deep-options.shown { display: block; }
  button, .button { display: inline-block; margin-top: 16px; padding: 9px 16px; border: 0; border-radius: 6px; background: var(--accent); color: #fff; font: inherit; font-weight: 600; cursor: pointer; text-decoration: none; }
  button:disabled { background: #9db5dd; cursor: default; }
  button.secondary { background: #e6eaf0; color: var(--ink); }
  #progress-box { margin-top: 16px; display: none; }
  #progress-box.shown { display: block; }
  progress { width: 100%; height: 14px; }
  #status { font-size: 13px; color: var(--muted); margin-top: 4px; }
  #error { display: none; margin-top: 14px; padding: 10px 12px; border-radius: 6px; background: #fdecea; color: var(--bad); font-size: 14px; }
  #error.shown { display: block; }
  .compare { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
  figure { margin: 0; }
  figure .frame { background: repeating-conic-gradient(#eceff3 0 25%, #fff 0 50%) 0 0 / 16px 16px; border: 1px solid var(--line); border-radius: 8px; min-height: 220px; display: flex; align-items: center; justify-content: center; overflow: hidden; }
  figure img { max-width: 100%; display: block; }
  figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
  .placeholder { color: var(--muted); font-size: 14px; padding: 20px; text-align: center; }
  .actions { display: flex; gap: 18px; align-items: center; flex-wrap: wrap; }
  .actions .check { margin-top: 16px; }
  #download { display: none; }
  #download.shown { display: inline-block; }
  @media (max-width: 860px) { main { grid-template-columns: 1fr; } .compare { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1>deepresize</h1>
  <p>Resize a photo: <b>scale</b> resamples, <b>seam</b> carves away low-energy seams, <b>deep</b> reconstructs the image from resized VGG-16 features.</p>
</header>
<main>
  <form class="panel" id="form">
    <div id="drop" tabindex="0">
      <input type="file" id="file" accept="image/jpeg,image/png,image/webp">
      <div id="drop-text">Drop a JPEG, PNG or WebP here, or <u>choose a file</u></div>
    </div>
    <div class="row">
      <div><label for="w">Width (px)</label><input type="number" id="w" min="1" step="1"></div>
      <div><label for="h">Height (px)</label><input type="number" id="h" min="1" step="1"></div>
    </div>
    <div class="check"><input type="checkbox" id="keep" checked><label for="keep" style="margin:0">keep the aspect ratio</label></div>
    <div id="ratio"></div>
    <label for="method">Method</label>
    <select id="method">
      <option value="scale">scale · resampling</option>
      <option value="seam">seam · seam carving</option>
      <option value="deep" selected>deep · deep features</option>
    </select>
    <div id="deep-options">
      <div class="row">
        <div><label for="iterations">Iterations</label><input type="number" id="iterations" min="1" max="1000" value="20"></div>
        <div><label for="operator">Operator</label><select id="operator"><option>seam</option><option>linear</option></select></div>
      </div>
      <div class="check"><input type="checkbox" id="protect" checked><label for="protect" style="margin:0">protect the important regions</label></div>
    </div>
    <label for="format">Output format</label>
    <select id="format"><option value="png">PNG</option><option value="jpeg">JPEG</option><option value="webp">WebP</option></select>
    <button type="submit" id="submit" disabled>Resize</button>
    <button type="button" id="cancel" class="secondary" style="display:none">Cancel</button>
    <div id="progress-box"><progress id="progress" max="1" value="0"></progress><div id="status"></div></div>
    <div id="error" role="alert"></div>
  </form>
  <section class="panel">
    <div class="compare">
      <figure><div class="frame" id="before-frame"><div class="placeholder">The input appears here.</div></div><figcaption id="before-caption">Before</figcaption></figure>
      <figure><div class="frame" id="after-frame"><div class="placeholder">The result appears here.</div></div><figcaption id="after-caption">After</figcaption></figure>
      <figure id="mask-figure" style="display:none"><div class="frame" id="mask-frame"></div><figcaption>Mask: what deep protected (the rest dimmed)</figcaption></figure>
    </div>
    <div class="actions">
      <a class="button" id="download" download>Download the result</a>
      <div class="check"><input type="checkbox" id="same-scale" checked><label for="same-scale" style="margin:0">show both at the same scale</label></div>
    </div>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const state = { file: null, width: 0, height: 0, jobId: null, polling: false, resultURL: null, limits: null, started: 0 };

// The server's limits and defaults (GET /limits): the method a request without one gets, and the sizes each
// method takes. Without them (an old server) the page keeps its own defaults and the server's 422 says why.
async function loadLimits() {
  try {
    const response = await fetch("/limits", { cache: "no-store" });
    if (response.ok) state.limits = await response.json();
  } catch (e) { /* keep the defaults */ }
  const limits = state.limits || {};
  if (limits.default_method && !state.file) $("method").value = limits.default_method;
  if (limits.iterations && limits.iterations.default) $("iterations").value = limits.iterations.default;
  $("deep-options").classList.toggle("shown", $("method").value === "deep");
}
// Half the source, or less where the method's output limit is lower, with the source's aspect ratio (rounded
// as the server rounds a missing side, so deep and seam take it as a uniform scale).
function suggestedSize(method, width, height) {
  const limits = state.limits || {};
  const maxPixels = (limits.max_output_pixels || {})[method] || Infinity;
  const maxSide = method === "scale" ? (limits.max_output_dimension || Infinity) : Infinity;
  const h = (w) => Math.max(1, Math.round(w * height / width));
  let w = Math.max(1, Math.round(width / 2));
  if (w * h(w) > maxPixels) w = Math.max(1, Math.floor(Math.sqrt(maxPixels * width / height)));
  while (w > 1 && (w * h(w) > maxPixels || Math.max(w, h(w)) > maxSide)) w -= 1;
  return [w, h(w)];
}
function seconds(s) { return s < 90 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`; }
// How long the request has run, and what is left as the job's progress so far predicts it.
function timing(fraction) {
  if (!state.started) return "";
  const elapsed = (performance.now() - state.started) / 1000;
  let text = ` · ${seconds(elapsed)} elapsed`;
  if (fraction > 0.02 && fraction < 1) text += ` · about ${seconds(elapsed * (1 - fraction) / fraction)} left`;
  return text;
}
// The request ended without a result: no "working…" left behind.
function notResized(outcome, text) {
  const frame = $("after-frame");
  if (!frame.querySelector("img")) {
    frame.replaceChildren(Object.assign(document.createElement("div"), { className: "placeholder", textContent: "No result." }));
  }
  setProgress(0, text);
  document.body.dataset.state = outcome;
}

function gcd(a, b) { while (b) { [a, b] = [b, a % b]; } return a; }
function ratioText(w, h) {
  if (!(w > 0 && h > 0)) return "";
  const g = gcd(w, h), a = w / g, b = h / g;
  return (a <= 50 && b <= 50) ? `${a}:${b}` : (w / h).toFixed(3) + ":1";
}
function showRatio() {
  const w = +$("w").value, h = +$("h").value;
  if (!state.file) { $("ratio").textContent = ""; return; }
  let text = `source ${state.width}×${state.height} (${ratioText(state.width, state.height)})`;
  if (w > 0 && h > 0) text += ` → ${w}×${h} (${ratioText(w, h)})`;
  $("ratio").textContent = text;
}
// Both images at the same scale, so the result's size reads correctly against the input's.
function layoutCompare() {
  const images = ["before", "after"].map((id) => $(id)).filter((img) => img && img.naturalWidth);
  const widest = Math.max(...images.map((img) => img.naturalWidth));
  const same = $("same-scale").checked;
  for (const img of images) img.style.width = same ? `${(100 * img.naturalWidth / widest).toFixed(2)}%` : "100%";
}
function showError(message) { $("error").textContent = message; $("error").classList.add("shown"); }
function clearError() { $("error").textContent = ""; $("error").classList.remove("shown"); }

// The service answers errors as RFC 9457 problem+json: show its title and detail in words.
async function problemText(response) {
  try {
    const body = await response.json();
    if (body && body.detail) return `${body.title || "Error"} (${body.status || response.status}): ${body.detail}`;
    if (body && body.error && body.error.detail) return `${body.error.title} (${body.error.status}): ${body.error.detail}`;
  } catch (e) { /* not JSON */ }
  return `The server answered ${response.status} ${response.statusText}.`;
}

function setFile(file) {
  clearError();
  if (!file) return;
  if (!/^image\/(jpeg|png|webp)$/.test(file.type)) { showError(`${file.name} is not a JPEG, PNG or WebP.`); return; }
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    state.file = file; state.width = img.naturalWidth; state.height = img.naturalHeight;
    $("before-frame").replaceChildren(img);
    img.id = "before";
    $("before-caption").textContent = `Before (${file.name}): ${state.width}×${state.height}`;
    $("after-frame").replaceChildren(Object.assign(document.createElement("div"), { className: "placeholder", textContent: "The result appears here." }));
    $("after-caption").textContent = "After";
    $("download").classList.remove("shown");
    layoutCompare();
    $("drop-text").textContent = `${file.name} (${state.width}×${state.height}) — drop or click to change`;
    if (!$("w").value && !$("h").value || state.prefilled) {
      [$("w").value, $("h").value] = suggestedSize($("method").value, state.width, state.height);
      state.prefilled = true;
    } else if ($("keep").checked) { follow("w"); }
    $("submit").disabled = false;
    showRatio();
  };
  img.onerror = () => showError(`${file.name} cannot be read as an image by the browser.`);
  img.src = url;
}

// With "keep the aspect ratio", editing one side sets the other from the source's proportions.
function follow(changed) {
  if (!$("keep").checked || !state.file) return;
  if (changed === "w" && +$("w").value > 0) $("h").value = Math.max(1, Math.round(+$("w").value * state.height / state.width));
  if (changed === "h" && +$("h").value > 0) $("w").value = Math.max(1, Math.round(+$("h").value * state.width / state.height));
}
$("w").addEventListener("input", () => { state.prefilled = false; follow("w"); showRatio(); });
$("h").addEventListener("input", () => { state.prefilled = false; follow("h"); showRatio(); });
$("keep").addEventListener("change", () => { follow("w"); showRatio(); });
$("same-scale").addEventListener("change", layoutCompare);
$("method").addEventListener("change", () => {
  $("deep-options").classList.toggle("shown", $("method").value === "deep");
  // A size the page chose follows the method's limits.
  if (state.file && state.prefilled) {
    [$("w").value, $("h").value] = suggestedSize($("method").value, state.width, state.height);
    showRatio();
  }
});
loadLimits();

const drop = $("drop");
drop.addEventListener("click", () => $("file").click());
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file").click(); });
$("file").addEventListener("change", () => setFile($("file").files[0]));
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); setFile(e.dataTransfer.files[0]); });

function setProgress(fraction, text) {
  $("progress-box").classList.add("shown");
  $("progress").value = Math.max(0, Math.min(1, fraction));
  $("status").textContent = text;
}
function busy(on) {
  $("submit").disabled = on || !state.file;
  $("cancel").style.display = on && state.jobId ? "inline-block" : "none";
}

function showResult(blob, label) {
  if (state.resultURL) URL.revokeObjectURL(state.resultURL);
  state.resultURL = URL.createObjectURL(blob);
  const img = new Image();
  img.id = "after";
  img.onload = () => {
    $("after-caption").textContent = `After (${label}): ${img.naturalWidth}×${img.naturalHeight}`;
    const took = state.started ? ` in ${seconds((performance.now() - state.started) / 1000)}` : "";
    setProgress(1, `done: ${img.naturalWidth}×${img.naturalHeight}${took}`);
    layoutCompare();
    document.body.dataset.state = "done";
  };
  img.src = state.resultURL;
  $("after-frame").replaceChildren(img);
  const ext = { "image/jpeg": "jpg", "image/webp": "webp" }[blob.type] || "png";
  const base = (state.file.name.replace(/\.[^.]*$/, "") || "image");
  $("download").href = state.resultURL;
  $("download").download = `${base}-${label}.${ext}`;
  $("download").classList.add("shown");
}

async function showMask(path) {
  const response = await fetch(path);
  if (!response.ok) return;
  const img = new Image();
  img.id = "mask";
  img.src = URL.createObjectURL(await response.blob());
  $("mask-frame").replaceChildren(img);
  $("mask-figure").style.display = "";
}

function describe(job) {
  const p = job.progress || {};
  const pct = Math.round((p.fraction || 0) * 100);
  if (job.status === "queued") return `queued${job.queue_position ? ", position " + job.queue_position : ""}${timing(0)}`;
  let text = `${job.status}: ${pct}%`;
  if (p.iterations) text += ` · ${job.method === "deep" ? "iteration" : "seam"} ${p.iteration}/${p.iterations}`;
  if (p.loss !== null && p.loss !== undefined) text += ` · loss ${Number(p.loss).toPrecision(4)}`;
  return text + (job.status === "running" ? timing(p.fraction || 0) : "");
}

async function follow_job(id, label) {
  state.jobId = id; busy(true);
  while (state.jobId === id) {
    let response;
    try {
      response = await fetch(`/jobs/${id}`, { cache: "no-store" });
    } catch (err) {
      showError(`The server could not be reached: ${err.message}`);
      notResized("failed", "not resized");
      break;
    }
    if (!response.ok) { showError(await problemText(response)); notResized("failed", "not resized"); break; }
    const job = await response.json();
    setProgress((job.progress && job.progress.fraction) || 0, describe(job));
    if (job.status === "succeeded") {
      const result = await fetch(`/jobs/${id}/result`);
      if (!result.ok) { showError(await problemText(result)); notResized("failed", "not resized"); break; }
      showResult(await result.blob(), label);
      // Only a job that stored a mask links it (a deep job that kept the aspect ratio was only scaled).
      if (job.links && job.links.mask) showMask(job.links.mask);
      break;
    }
    if (job.status === "failed") {
      showError(job.error ? `${job.error.title} (${job.error.status}): ${job.error.detail}` : "The job failed.");
      notResized("failed", "failed");
      break;
    }
    if (job.status === "canceled") { notResized("canceled", "canceled"); break; }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  state.jobId = null; busy(false);
}

$("cancel").addEventListener("click", async () => {
  if (!state.jobId) return;
  const response = await fetch(`/jobs/${state.jobId}`, { method: "DELETE" });
  if (!response.ok) showError(await problemText(response));
});

$("form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!state.file) return;
  clearError();
  document.body.dataset.state = "working";
  state.started = performance.now();
  const method = $("method").value;
  const params = new URLSearchParams({ method, format: $("format").value });
  if ($("w").value) params.set("w", $("w").value);
  if ($("h").value) params.set("h", $("h").value);
  if (method === "deep") {
    params.set("iterations", $("iterations").value || "20");
    params.set("operator", $("operator").value);
    params.set("protect", $("protect").checked ? "true" : "false");
  }
  // Queued methods answer 202 at once and the page polls the job for its progress.
  if (method !== "scale") params.set("wait", "0");
  const form = new FormData();
  form.append("image", state.file, state.file.name);
  busy(true);
  setProgress(0, method === "scale" ? "resizing…" : "uploading…");
  $("after-frame").replaceChildren(Object.assign(document.createElement("div"), { className: "placeholder", textContent: "working…" }));
  $("after-caption").textContent = "After";  // a refusal must not leave the last result's caption
  $("mask-figure").style.display = "none";
  $("download").classList.remove("shown");
  try {
    const response = await fetch(`/resize?${params}`, { method: "POST", body: form, headers: { "Prefer": "respond-async" } });
    const label = method;
    if (response.status === 200) {
      showResult(await response.blob(), label);
    } else if (response.status === 202) {
      const job = await response.json();
      await follow_job(job.id, label);
      return;
    } else {
      showError(await problemText(response));
      notResized("failed", "not resized");
    }
  } catch (err) {
    showError(`The request did not complete: ${err.message}`);
    notResized("failed", "not resized");
  }
  busy(false);
});
</script>
</body>
</html>
"""#
}
