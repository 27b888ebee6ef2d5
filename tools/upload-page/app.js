// The upload page: Uppy's Dashboard, its AwsS3 plugin connected to the bucket-uploads API
// (connectAwsS3, the part any Uppy needs), and the bucket's uploads below it.
import { AwsS3, Dashboard, GoldenRetriever, Uppy } from './uppy/uppy.min.mjs'

const MiB = 1024 * 1024

/**
 * Options for Uppy 6's AwsS3 plugin that upload through the bucket-uploads API, plus a
 * postprocessor on `uppy` that confirms each upload. `api(method, path, body)` calls
 * `{API}/v1/buckets/{bucket}/uploads{path}` with the API key and namespace and resolves to
 * the answer's JSON.
 *
 * AwsS3 asks `signRequest` for a URL before each request it makes to S3. A file's PUT and its
 * parts' PUTs get the API's presigned URLs. Starting, listing, completing and aborting a
 * multipart upload are the API's business, so for those requests signRequest calls the API
 * and hands back a data: URL holding the XML S3 would have answered. Every upload is then
 * confirmed by the postprocessor (for a multipart upload, that joins its parts).
 */
export function connectAwsS3(uppy, api) {
  const started = new Map() // Uppy file id → { uploadId, presignedUrl, expiresAt, partUrls, etags }
  const s3Answer = (xml) => ({ url: `data:application/xml,${encodeURIComponent(xml)}` })
  // Uppy cuts the parts, the API signs them: both must cut alike.
  const partSize = ({ size }) => Math.max(5 * MiB, Math.ceil(size / 10_000 / MiB) * MiB)

  // What this page knows of a file's upload; after a reload (Golden Retriever), its id only.
  function uploadOf(fileId, uploadId = uppy.getFile(fileId)?.meta.upload_id) {
    if (!started.has(fileId) && uploadId) {
      started.set(fileId, { uploadId, partUrls: new Map(), etags: new Map() })
    }
    return started.get(fileId)
  }

  async function create(file, multipart) {
    const upload = await api('POST', '', {
      filename: file.name,
      content_type: file.type || 'application/octet-stream', // what AwsS3 sends
      file_size_bytes: file.size,
      ...(multipart && { multipart: true, part_size_bytes: partSize(file) }),
    })
    const parts = upload.multipart?.parts ?? []
    started.set(file.id, {
      uploadId: upload.upload_id,
      presignedUrl: upload.presigned_url,
      expiresAt: Date.parse(upload.expires_at),
      partUrls: new Map(parts.map((part) => [part.part_number, part.url])),
      etags: new Map(),
    })
    uppy.setFileMeta(file.id, { upload_id: upload.upload_id })
    return started.get(file.id)
  }

  async function signRequest({ method, key: fileId, uploadId, partNumber }) {
    const file = uppy.getFile(fileId)
    if (method === 'PUT' && uploadId == null) {
      // PutObject; after a pause or an error, again to the same URL while it lives.
      const known = started.get(fileId)
      const upload = known?.presignedUrl && known.expiresAt > Date.now() + 60_000 ? known : await create(file, false)
      return { url: upload.presignedUrl }
    }
    if (method === 'POST' && uploadId == null) {
      const upload = await create(file, true)
      return s3Answer(`<InitiateMultipartUploadResult><UploadId>${upload.uploadId}</UploadId></InitiateMultipartUploadResult>`)
    }
    if (method === 'DELETE') {
      await abort(fileId) // AbortMultipartUpload
      return s3Answer('<Aborted/>')
    }
    const upload = uploadOf(fileId, uploadId)
    const parts = (numbers) => api('POST', `/${uploadId}/parts`, { part_numbers: numbers })
    if (method === 'PUT') {
      // UploadPart: the create answer's URL, used once; a retry asks for a fresh one.
      const url = upload.partUrls.get(partNumber) ?? (await parts([partNumber])).parts[0].url
      upload.partUrls.delete(partNumber)
      return { url }
    }
    if (method === 'GET') {
      // ListParts, on resuming: what S3 holds already.
      const held = (await parts([])).uploaded_parts
      for (const part of held) upload.etags.set(part.part_number, part.etag)
      const xml = held.map((part) => `<Part><PartNumber>${part.part_number}</PartNumber><ETag>${part.etag.replaceAll('"', '')}</ETag></Part>`)
      return s3Answer(`<ListPartsResult>${xml.join('')}</ListPartsResult>`)
    }
    // POST: CompleteMultipartUpload. The confirmation (postprocessor) joins the parts.
    return s3Answer(`<CompleteMultipartUploadResult><Location>${uploadId}</Location><Key>${uploadId}</Key></CompleteMultipartUploadResult>`)
  }

  // A removed or cancelled file's upload, unless confirmed, goes (with its bytes or parts).
  async function abort(fileId) {
    const upload = started.get(fileId)
    started.delete(fileId)
    if (upload) await api('DELETE', `/${upload.uploadId}`).catch((err) => uppy.log(err, 'warning'))
  }

  async function confirm(fileId) {
    const upload = uploadOf(fileId)
    const file = uppy.getFile(fileId)
    if (!upload || file.error || !file.progress.uploadComplete || file.response?.body?.status === 'COMPLETED') return
    uppy.emit('postprocess-progress', file, { mode: 'indeterminate', message: 'Confirming…' })
    try {
      // The ETags the browser read from S3's answers (exposed by the bucket's CORS rule).
      const parts = [...upload.etags].sort(([a], [b]) => a - b).map(([part_number, etag]) => ({ part_number, etag }))
      let confirmed = await api('POST', `/${upload.uploadId}/confirm`, parts.length ? { parts } : undefined)
      // PROCESSING: the worker verifies it (large files, or multipart ones); wait for it.
      while (confirmed.status === 'PROCESSING') {
        await new Promise((resolve) => setTimeout(resolve, 500))
        confirmed = await api('GET', `/${upload.uploadId}`)
      }
      if (confirmed.status !== 'COMPLETED') throw new Error(`upload ${upload.uploadId} is ${confirmed.status}`)
      started.delete(fileId)
      uppy.setFileState(fileId, { response: { ...file.response, body: confirmed } })
      uppy.emit('upload-confirmed', uppy.getFile(fileId), confirmed)
    } catch (err) {
      started.delete(fileId) // a retry starts a new upload
      uppy.emit('upload-error', uppy.getFile(fileId), err)
    }
    uppy.emit('postprocess-complete', uppy.getFile(fileId))
  }

  uppy.on('s3-multipart:part-uploaded', (file, part) => uploadOf(file.id)?.etags.set(part.PartNumber, part.ETag))
  uppy.on('file-removed', (file) => file.progress.complete || abort(file.id))
  uppy.addPostProcessor((fileIds) => Promise.all(fileIds.map(confirm)))

  return {
    shouldUseMultipart: (file) => file.size > 8 * MiB,
    getChunkSize: partSize,
    generateObjectKey: (file) => file.id, // signRequest's `key`: which file asks
    signRequest,
  }
}

// ---------------------------------------------------------------------------------------
// The page: settings (from /config.json, which serve.py fills from .local/dev.env), the
// Dashboard, and the bucket's list.

const form = document.querySelector('#settings')
const settings = () => Object.fromEntries(new FormData(form))
for (const [name, value] of Object.entries(await (await fetch('config.json')).json())) {
  if (form.elements[name]) form.elements[name].value = value
}
form.addEventListener('change', () => refreshList())

/** `{API}/v1/buckets/{bucket}/uploads{path}`, same-origin through serve.py. */
async function api(method, path, body) {
  const { apiKey, namespace, bucket } = settings()
  const response = await fetch(`/v1/buckets/${encodeURIComponent(bucket)}/uploads${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${apiKey}`,
      'X-Namespace': namespace,
      ...(body !== undefined && { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  const answer = text ? JSON.parse(text) : null
  if (!response.ok) {
    const error = new Error(`${method} …/uploads${path}: ${response.status} ${answer?.error?.message ?? text}`)
    error.details = JSON.stringify(answer?.error?.details ?? answer?.detail ?? '')
    throw error
  }
  return answer
}

const uppy = new Uppy({ id: 'bucket-uploads' })
uppy
  .use(Dashboard, {
    target: '#dashboard',
    inline: true,
    width: '100%',
    height: 420,
    proudlyDisplayPoweredByUppy: false,
    note: 'Any file; files over 8 MiB go in parts of 5 MiB or more, and can be paused and resumed.',
  })
  .use(GoldenRetriever)
  .use(AwsS3, connectAwsS3(uppy, api))
uppy.on('complete', () => refreshList())

const tbody = document.querySelector('#uploads tbody')
const listStatus = document.querySelector('#list-status')
document.querySelector('#refresh').addEventListener('click', () => refreshList())

async function refreshList() {
  try {
    const list = await api('POST', '/list', { sort: { field: 'created_at', direction: 'desc' }, limit: 100 })
    tbody.replaceChildren(...list.results.map(row))
    const { total } = list.pagination
    listStatus.textContent = `${total} upload${total === 1 ? '' : 's'}${total > list.results.length ? `, the ${list.results.length} newest shown` : ''}`
  } catch (err) {
    tbody.replaceChildren()
    listStatus.textContent = err.message
  }
}

function row(upload) {
  const tr = document.createElement('tr')
  tr.dataset.uploadId = upload.upload_id
  tr.dataset.status = upload.status
  const cells = [
    upload.filename,
    upload.file_size_bytes == null ? '' : formatSize(upload.file_size_bytes),
    upload.status,
    upload.multipart ? `${upload.multipart.part_count} × ${formatSize(upload.multipart.part_size_bytes)}` : 'single PUT',
    upload.status === 'COMPLETED' ? upload.file_hash ?? '' : '',
    upload.created_at,
    upload.upload_id,
  ]
  for (const [i, text] of cells.entries()) {
    const td = document.createElement('td')
    td.textContent = text
    td.className = ['filename', 'size', 'status', 'parts', 'hash', 'created', 'id'][i]
    if (i === 4) td.title = text
    tr.append(td)
  }
  return tr
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < MiB) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / MiB).toFixed(1)} MiB`
}

refreshList()
// For the browser test and the console.
window.uppy = uppy
