// The upload page (tools/upload-page) in headless Chromium against a running stack: a small
// file by a single PUT and an 11 MiB one by multipart, both confirmed and listed on the page
// and checked through the API (COMPLETED, file_hash = their SHA-256); then multipart uploads
// paused after their first part: one resumed (ListParts through the API, no part sent twice),
// one removed (deleted through the API), one resumed after a page reload (Golden Retriever).
// Saves screenshots and prints their paths (docs/browser.md).
//
// Needs $UPLOADS_TEST_API_URL (the API) and $UPLOADS_ADMIN (uploads-admin, with the stack's
// UPLOADS_TABLE and AWS environment), as scripts/test.sh sets them: `scripts/test.sh --browser`
// runs it alone against fresh services. Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM),
// driven by puppeteer-core from .local/upload-page (scripts/stack.sh: ensure_upload_page).
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const MODULES = process.env.UPLOAD_PAGE_MODULES ?? join(ROOT, '.local/upload-page/node_modules')
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const SCREENSHOT = process.env.UPLOAD_PAGE_SCREENSHOT ?? join(ROOT, '.local/browser/upload-page.png')
const API = required('UPLOADS_TEST_API_URL')
const ADMIN = required('UPLOADS_ADMIN')
const MiB = 1024 * 1024
const puppeteer = createRequire(join(MODULES, 'index.js'))('puppeteer-core')

function required(name) {
  if (!process.env[name]) throw new Error(`$${name} is not set (run through scripts/test.sh --browser)`)
  return process.env[name]
}
const step = (message) => console.log(`browser test: ${message}`)
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')

const work = mkdtempSync(join(tmpdir(), 'upload-page-test-'))
const cleanup = []
const deadline = setTimeout(async () => {
  await fail(new Error('timed out after 300 s'))
  for (const undo of cleanup.reverse()) await undo().catch(() => {})
  process.exit(1)
}, 300_000)

try {
  await run()
  step('passed')
} catch (err) {
  await fail(err)
} finally {
  clearTimeout(deadline)
  for (const undo of cleanup.reverse()) await undo().catch(() => {})
  rmSync(work, { recursive: true, force: true })
}

async function fail(err) {
  console.error(`browser test FAILED: ${err.stack ?? err}`)
  const log = join(work, 'serve.log')
  try {
    console.error(`--- last lines of serve.py's log\n${readFileSync(log, 'utf8').split('\n').slice(-30).join('\n')}`)
  } catch {}
  process.exitCode = 1
}

async function run() {
  // A tenant, namespace, bucket and key of its own, as make dev seeds them.
  const envFile = join(work, 'browser.env')
  execFileSync(ADMIN, ['seed-dev', '--env-file', envFile, '--api-url', API], { stdio: ['ignore', 'ignore', 'inherit'] })
  const env = Object.fromEntries(
    readFileSync(envFile, 'utf8').split('\n').filter(Boolean).map((line) => line.replace(/^export /, '').match(/^(\w+)=(.*)$/).slice(1)),
  )
  const auth = { Authorization: `Bearer ${env.UPLOADS_API_KEY}`, 'X-Namespace': env.UPLOADS_NAMESPACE }
  const uploadUrl = (id) => `${API}/v1/buckets/${env.UPLOADS_BUCKET}/uploads/${id}`
  const getUpload = async (id) => {
    const response = await fetch(uploadUrl(id), { headers: auth })
    assert.equal(response.status, 200, `GET upload ${id}`)
    return response.json()
  }

  const files = {
    small: file('hello.txt', Buffer.from(`hello from the browser test, ${new Date().toISOString()}\n`)),
    large: file('large.bin', randomBytes(11 * MiB + 12_345)),
    resumed: file('resumed.bin', randomBytes(11 * MiB + 777)),
    removed: file('removed.bin', randomBytes(9 * MiB)),
    reloaded: file('reloaded.bin', randomBytes(9 * MiB + 3)),
  }

  const pageUrl = await startServer(env)
  step(`page served at ${pageUrl}`)
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  })
  cleanup.push(() => browser.close())
  const page = await browser.newPage()
  await page.setViewport({ width: 1200, height: 900 })
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error') console.error(`page console: ${message.text()}`)
  })
  // Every request the page makes to S3 (cross-origin: the presigned URLs) and to the API.
  const requests = []
  page.on('request', (request) => {
    if (request.url().startsWith('data:')) return
    const url = new URL(request.url())
    requests.push({ method: request.method(), url, body: request.postData() })
  })
  const s3Puts = () => requests.filter((r) => r.method === 'PUT' && r.url.origin !== new URL(pageUrl).origin)

  await page.goto(pageUrl)
  await page.waitForSelector('.uppy-Dashboard-input')
  await page.waitForFunction(() => document.querySelector('#list-status').textContent !== '')
  step('page loaded, the empty list shown')

  // Round 1: two files through the Dashboard's file input and its Upload button.
  await addFiles(page, files.small.path, files.large.path)
  await page.waitForSelector('.uppy-StatusBar-actionBtn--upload')
  await page.click('.uppy-StatusBar-actionBtn--upload')
  const round1 = await confirmed(page, [files.small.name, files.large.name])
  step(`uploaded and confirmed: ${round1.map((u) => `${u.upload_id} ${u.status}`).join(', ')}`)

  const [small, large] = round1
  const smallPuts = s3Puts().filter((r) => !r.url.searchParams.has('partNumber'))
  assert.equal(smallPuts.length, 1, 'one single PUT (the small file)')
  assert.deepEqual(partNumbers(s3Puts()), ['1', '2', '3'], 'three part PUTs')
  // The ETags the browser read from S3's answers (exposed by the bucket's CORS rule) went
  // with the confirmation, and the API found them to be S3's.
  const confirmLarge = requests.find((r) => r.url.pathname.endsWith(`/${large.upload_id}/confirm`))
  assert.deepEqual(JSON.parse(confirmLarge.body).parts.map((p) => p.part_number), [1, 2, 3])
  assert.ok(JSON.parse(confirmLarge.body).parts.every((p) => /^"?[0-9a-f]{32}"?$/.test(p.etag)), confirmLarge.body)
  for (const [upload, { bytes }] of [[small, files.small], [large, files.large]]) {
    const stored = await getUpload(upload.upload_id)
    assert.equal(stored.status, 'COMPLETED')
    assert.equal(stored.file_hash, sha256(bytes), `${stored.filename}: file_hash is the file's SHA-256`)
    assert.equal(stored.file_size_bytes, bytes.length)
  }
  assert.equal((await getUpload(small.upload_id)).multipart ?? null, null, 'the small file went by single PUT')
  assert.equal((await getUpload(large.upload_id)).multipart?.part_count, 3, 'the large file went in three parts')
  step('the API has both COMPLETED with their SHA-256; one single PUT and three part PUTs (their ETags read through CORS) went to S3')
  const shown = [
    { id: small.upload_id, name: files.small.name, hash: small.file_hash },
    { id: large.upload_id, name: files.large.name, hash: large.file_hash },
  ]
  await listed(page, shown)
  step('both are in the list on the page')

  // Round 2: a multipart upload paused after its first part, then resumed.
  let paused = await startPaused(page, files.resumed)
  mkdirSync(dirname(SCREENSHOT), { recursive: true })
  const pausedShot = SCREENSHOT.replace(/\.png$/, '-paused.png')
  await page.screenshot({ path: pausedShot, fullPage: true })
  await page.evaluate((id) => window.uppy.pauseResume(id), paused.id)
  const [resumed] = await confirmed(page, [files.resumed.name])
  assert.deepEqual(partNumbers(s3Puts()), ['1', '2', '3'], 'each part sent once')
  assert.equal(listPartsCalls().length, 1, 'resuming asked the API which parts S3 holds')
  await completedWithHash(resumed, files.resumed)
  shown.push({ id: resumed.upload_id, name: files.resumed.name, hash: resumed.file_hash })
  await listed(page, shown)
  step('paused after part 1, resumed (parts listed through the API, none sent twice), confirmed, listed')

  // Round 3: a paused multipart upload removed from the Dashboard is deleted (and aborted in S3).
  paused = await startPaused(page, files.removed)
  await page.evaluate((id) => window.uppy.removeFile(id), paused.id)
  await waitFor(async () => (await fetch(uploadUrl(paused.uploadId), { headers: auth })).status === 404, 'the removed upload to be deleted')
  step(`a paused upload removed from the Dashboard: DELETE ${paused.uploadId}, now 404`)

  // Round 4: a page reload while paused; Golden Retriever restores the file (≤ 10 MiB, kept in
  // IndexedDB) and its upload id, and Upload resumes it.
  paused = await startPaused(page, files.reloaded)
  await new Promise((done) => setTimeout(done, 1500)) // Golden Retriever saves its state throttled
  requests.length = 0
  await page.reload()
  await page.waitForFunction((name) => window.uppy?.getFiles().some((f) => f.name === name && f.data), {}, files.reloaded.name)
  await page.click('.uppy-StatusBar-actionBtn--upload')
  const [reloaded] = await confirmed(page, [files.reloaded.name])
  assert.equal(reloaded.upload_id, paused.uploadId, 'the same upload, resumed')
  assert.deepEqual(partNumbers(s3Puts()), ['2'], 'after the reload only part 2 was sent')
  assert.equal(listPartsCalls().length, 1, 'resuming asked the API which parts S3 holds')
  await completedWithHash(reloaded, files.reloaded)
  shown.push({ id: reloaded.upload_id, name: files.reloaded.name, hash: reloaded.file_hash })
  await listed(page, shown)
  step('paused, page reloaded, resumed with part 2 only, confirmed, listed')

  await page.screenshot({ path: SCREENSHOT, fullPage: true })
  step(`screenshots: ${SCREENSHOT} (and, paused mid-upload, ${pausedShot})`)

  function partNumbers(puts) {
    return puts.filter((r) => r.url.searchParams.has('partNumber')).map((r) => r.url.searchParams.get('partNumber')).sort()
  }
  function listPartsCalls() {
    return requests.filter((r) => r.url.pathname.endsWith('/parts') && JSON.parse(r.body).part_numbers.length === 0)
  }
  async function completedWithHash(upload, { bytes }) {
    const stored = await getUpload(upload.upload_id)
    assert.equal(stored.status, 'COMPLETED')
    assert.equal(stored.file_hash, sha256(bytes))
  }
  /** Adds the file and starts uploading it, pausing after its first part (as the Dashboard's pause button does). */
  async function startPaused(page, { name, path }) {
    requests.length = 0
    await page.evaluate(() => {
      window.pausedAfterPart = false
      window.uppy.once('s3-multipart:part-uploaded', (file) => {
        window.uppy.pauseResume(file.id)
        window.pausedAfterPart = true
      })
    })
    await addFiles(page, path)
    await page.click('.uppy-StatusBar-actionBtn--upload')
    await page.waitForFunction(() => window.pausedAfterPart, { timeout: 60_000 })
    await new Promise((done) => setTimeout(done, 500))
    const file = await page.evaluate((name) => {
      const { id, isPaused, meta } = window.uppy.getFiles().find((f) => f.name === name)
      return { id, isPaused, uploadId: meta.upload_id }
    }, name)
    assert.equal(file.isPaused, true, `${name} is paused`)
    assert.deepEqual(partNumbers(s3Puts()), ['1'], `${name}: one part sent before the pause`)
    return file
  }
}

/** Through the Dashboard's file input (behind "Add more" once it lists files). */
async function addFiles(page, ...paths) {
  if (!(await page.$('.uppy-Dashboard-input'))) await page.click('.uppy-DashboardContent-addMore')
  const input = await page.waitForSelector('.uppy-Dashboard-input')
  await input.uploadFile(...paths)
}

async function waitFor(condition, what, seconds = 15) {
  for (const end = Date.now() + seconds * 1000; Date.now() < end; ) {
    if (await condition()) return
    await new Promise((done) => setTimeout(done, 250))
  }
  throw new Error(`waited ${seconds} s for ${what}`)
}


function file(name, bytes) {
  const path = join(work, name)
  writeFileSync(path, bytes)
  return { name, path, bytes }
}

/** serve.py on a free port, for this run's bucket, namespace and key; resolves to its URL. */
async function startServer(env) {
  const log = join(work, 'serve.log')
  const server = spawn(
    'python3',
    [
      join(ROOT, 'tools/upload-page/serve.py'),
      '--api', API,
      '--uppy-dist', join(MODULES, 'uppy/dist'),
      '--bucket', env.UPLOADS_BUCKET,
      '--namespace', env.UPLOADS_NAMESPACE,
    ],
    { env: { ...process.env, UPLOADS_API_KEY: env.UPLOADS_API_KEY }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  cleanup.push(async () => server.kill())
  const logLines = []
  server.stderr.on('data', (chunk) => {
    logLines.push(chunk)
    writeFileSync(log, Buffer.concat(logLines))
  })
  const lines = createInterface({ input: server.stdout })
  return new Promise((resolveUrl, reject) => {
    server.on('exit', (code) => reject(new Error(`serve.py exited (${code})`)))
    lines.once('line', (line) => resolveUrl(line.match(/http:\/\/\S+/)[0]))
  })
}

/** Waits until the Dashboard's files of these names are confirmed; their API records. */
async function confirmed(page, names) {
  const handle = await page.waitForFunction(
    (names) => {
      const files = window.uppy.getFiles().filter((f) => names.includes(f.name))
      const failed = files.find((f) => f.error)
      if (failed) return { error: `${failed.name}: ${failed.error} ${failed.response?.body?.message ?? ''}` }
      const done = files.filter((f) => f.response?.body?.status === 'COMPLETED')
      return done.length === names.length && names.map((n) => done.find((f) => f.name === n).response.body)
    },
    { timeout: 120_000, polling: 200 },
    names,
  )
  const result = await handle.jsonValue()
  if (result.error) throw new Error(`upload failed on the page: ${result.error}`)
  return result
}

/** Waits until the page's list shows these uploads ({id, name, hash}) COMPLETED. */
async function listed(page, want) {
  try {
    await page.waitForFunction(
      (want) =>
        want.every((u) => {
          const row = document.querySelector(`#uploads tr[data-upload-id="${u.id}"]`)
          return (
            row?.dataset.status === 'COMPLETED' &&
            row.querySelector('.filename').textContent === u.name &&
            row.querySelector('.hash').textContent === u.hash
          )
        }),
      { timeout: 30_000 },
      want,
    )
  } catch (err) {
    const shown = await page.$eval('#uploads tbody', (tbody) => tbody.innerText)
    throw new Error(`the list does not show ${JSON.stringify(want)}; it shows:\n${shown}\n${err.message}`)
  }
}
