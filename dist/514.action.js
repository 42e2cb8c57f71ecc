export const id = 514;
export const ids = [514];
export const modules = {

/***/ 17514:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  S3Destination: () => (/* binding */ S3Destination)
});

// UNUSED EXPORTS: DEFAULT_PART_SIZE, STATE_DIR, STATE_OBJECT

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(77598);
// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __webpack_require__(57075);
// EXTERNAL MODULE: external "node:stream/promises"
var promises_ = __webpack_require__(46466);
// EXTERNAL MODULE: external "node:zlib"
var external_node_zlib_ = __webpack_require__(38522);
// EXTERNAL MODULE: ./node_modules/@aws-sdk/client-s3/dist-cjs/index.js
var dist_cjs = __webpack_require__(53711);
// EXTERNAL MODULE: ./node_modules/@aws-sdk/lib-storage/dist-cjs/index.js
var lib_storage_dist_cjs = __webpack_require__(22358);
// EXTERNAL MODULE: ./src/core/errors.ts
var errors = __webpack_require__(74296);
// EXTERNAL MODULE: ./src/photos/state.ts
var photos_state = __webpack_require__(43592);
// EXTERNAL MODULE: ./src/session-cache/stream-blob.ts
var stream_blob = __webpack_require__(76603);
// EXTERNAL MODULE: ./src/photos/sync.ts + 11 modules
var sync = __webpack_require__(65517);
;// CONCATENATED MODULE: ./src/destinations/s3-errors.ts
/**
 * S3 failures as the app's errors. Messages name the bucket, the operation and S3's error code,
 * never a credential: SDK messages are not copied for refused credentials (SignatureDoesNotMatch
 * carries the string to sign), and the SDK error stays in `cause` only.
 */

/** S3 and STS codes that mean the credentials or the access were refused. */
const AUTH_CODES = new Set([
    'InvalidAccessKeyId',
    'SignatureDoesNotMatch',
    'AccessDenied',
    'ExpiredToken',
    'TokenRefreshRequired',
    'InvalidToken',
    'AllAccessDisabled',
    'AccountProblem',
    'InvalidClientTokenId',
    'CredentialsProviderError',
    'UnrecognizedClientException',
]);
const NETWORK_CODES = new Set([
    'ECONNREFUSED',
    'ECONNRESET',
    'ENOTFOUND',
    'EAI_AGAIN',
    'ETIMEDOUT',
    'EPIPE',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'TimeoutError',
    'RequestTimeout',
]);
/** S3's error code of an SDK error (or a Node error code), and its HTTP status. */
function s3ErrorCode(err) {
    const e = (err ?? {});
    const code = e.Code ?? e.code ?? e.name ?? 'Error';
    return { code, status: e.$metadata?.httpStatusCode };
}
function isNotFound(err) {
    const { code, status } = s3ErrorCode(err);
    return code === 'NoSuchKey' || code === 'NotFound' || (status === 404 && code !== 'NoSuchBucket');
}
/**
 * A store that refuses S3's flexible checksums (aws/aws-sdk-js-v3#6810): Backblaze B2's `400
 * InvalidArgument: Unsupported header 'x-amz-checksum-crc32'…`, Cloudflare R2's former `501
 * NotImplemented: Header 'x-amz-checksum-crc32'… not implemented`, or an `aws-chunked` body
 * refused as `XAmzContentSHA256Mismatch`. Only when the message names a checksum header.
 */
function isChecksumRefusal(err) {
    const { code, status } = s3ErrorCode(err);
    const message = err?.message ?? '';
    const refused = (code === 'InvalidArgument' && (status === undefined || status === 400)) ||
        (code === 'NotImplemented' && (status === undefined || status === 501)) ||
        code === 'XAmzContentSHA256Mismatch';
    return refused && /checksum|x-amz-content-sha256/i.test(message);
}
const AUTH_REMEDIATION = 'Check the credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (or the role of ' +
    'aws-actions/configure-aws-credentials) and that they may list, read, write and delete under the prefix.';
/** Turn an SDK (or network) error into DESTINATION_AUTH or DESTINATION; AppErrors pass through. */
function toDestinationError(err, o) {
    if (err instanceof errors/* AppError */.u)
        return err;
    const { code, status } = s3ErrorCode(err);
    const http = status ? `, HTTP ${status}` : '';
    const what = o.key ? `${o.op} ${o.key}` : o.op;
    if (AUTH_CODES.has(code) || status === 401 || (status === 403 && code !== 'RequestTimeTooSkewed')) {
        return new errors/* AppError */.u('DESTINATION_AUTH', `The S3 destination ${o.label} refused the credentials or the access (${code}${http}) on ${what}.`, AUTH_REMEDIATION, { cause: err });
    }
    if (code === 'NoSuchBucket') {
        return new errors/* AppError */.u('DESTINATION', `The bucket of the S3 destination ${o.label} does not exist (NoSuchBucket).`, 'Create the bucket, or fix `photos.destination.bucket`, `region` and `endpoint`.', { cause: err });
    }
    if (NETWORK_CODES.has(code)) {
        return new errors/* AppError */.u('DESTINATION', `Cannot reach the S3 destination ${o.label} (${code}) on ${what}.`, 'Check `photos.destination.endpoint` and the network; the run can be retried.', { cause: err });
    }
    return new errors/* AppError */.u('DESTINATION', `The S3 destination ${o.label} failed ${what} (${code}${http}).`, 'If it repeats, check the storage provider’s status and the bucket settings; the next run retries.', { cause: err });
}

;// CONCATENATED MODULE: ./src/destinations/s3-destination.ts
/**
 * An S3-compatible bucket as the destination (AWS S3, Backblaze B2, Cloudflare R2, Wasabi, MinIO,
 * Google Cloud Storage's interoperability API). Apple's bytes stream through to the bucket without
 * touching the runner's disk; memory per file is bounded by the part size (a file that ends within
 * one part is one PutObject, a larger one a multipart upload with `queueSize` parts in flight).
 *
 * Keys are `<prefix>/<relPath>`, exactly the paths icloudpd writes, so a bucket holding an
 * icloudpd backup (copied with rclone or `aws s3 sync`) is recognised by listing. Every object
 * carries the file's SHA-256 and the asset's date as metadata (`x-amz-meta-sha256`,
 * `x-amz-meta-created`) and a `Content-Type`. The download state is the object
 * `<prefix>/.icloud-photos/state.json`, sealed with the session key when one is given.
 *
 * Checksums (`checksums`): S3's SHA-256 on every body by default. Stores that refuse the flexible
 * checksum headers (B2, R2 before 2025: aws/aws-sdk-js-v3#6810) are detected on the first refused
 * request (`auto`): the destination switches to a client that sends them only when required,
 * Content-MD5 goes on every body instead, and every object is HEAD-verified.
 *
 * Credentials come from the SDK's default chain (AWS_* environment variables, as
 * aws-actions/configure-aws-credentials sets them with OIDC), never from the config file.
 */











/** Where the state lives under the prefix. */
const STATE_DIR = '.icloud-photos';
const STATE_OBJECT = `${STATE_DIR}/state.json`;
/** S3's multipart minimum is 5 MiB; 8 MiB parts keep memory at about threads × 2 parts. */
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** CopyObject copies at most 5 GiB in one request: larger objects keep the date but no sha256 metadata. */
const COPY_LIMIT = 5 * 1024 * 1024 * 1024;
/** Commands whose success shows the store takes the checksums we send with a body. */
const BODY_WRITES = new Set(['PutObjectCommand', 'UploadPartCommand']);
class S3Destination {
    kind = 's3';
    label;
    /** What the sealed state object is bound to (the AAD of its chunks): this bucket and prefix. */
    sealContext;
    durable = true;
    /** The client of the current checksum mode (replaced once if the store refuses checksums). */
    client;
    /** What writes carry now: S3's SHA-256 checksums, or Content-MD5 (and a HEAD after each object). */
    mode;
    /** A write that sent checksums succeeded: the `auto` fallback is no longer needed. */
    confirmed = false;
    bucket;
    keyPrefix;
    partSize;
    queueSize;
    o;
    openedAt = Date.now();
    /** The whole prefix listed once: folder → name → size. */
    listing;
    constructor(o) {
        this.o = o;
        this.bucket = o.bucket;
        const prefix = (o.prefix ?? '').replace(/^\/+|\/+$/g, '');
        this.keyPrefix = prefix ? `${prefix}/` : '';
        this.label = `s3://${o.bucket}/${prefix}`;
        this.sealContext = this.label;
        this.partSize = Math.max(5 * 1024 * 1024, o.partSize ?? DEFAULT_PART_SIZE);
        // One part in flight per file: large files run in parallel with the others anyway, and each
        // extra part in flight is another part size of memory per thread.
        this.queueSize = o.queueSize ?? 1;
        this.mode = o.checksums === 'md5' ? 'md5' : 'sha256';
        this.client = this.makeClient();
    }
    makeClient() {
        const md5 = this.mode === 'md5';
        const o = this.o;
        const client = new dist_cjs.S3Client({
            region: o.region,
            endpoint: o.endpoint,
            forcePathStyle: o.forcePathStyle ?? false,
            credentials: o.credentials,
            // S3 answers 503 SlowDown when it wants fewer requests: adaptive mode slows the client down.
            retryMode: 'adaptive',
            maxAttempts: o.maxAttempts ?? 8,
            requestHandler: { connectionTimeout: 15_000, requestTimeout: 300_000 },
            // Without flexible checksums the SDK sends none unless an operation requires one (none we use).
            ...(md5 && {
                requestChecksumCalculation: 'WHEN_REQUIRED',
                responseChecksumValidation: 'WHEN_REQUIRED',
            }),
        });
        if (md5) {
            // lib-storage sends every part with the same params: Content-MD5 of each body (a part, or a
            // whole object) is added here, before signing, from its bytes; the store checks it.
            client.middlewareStack.add((next, context) => async (args) => {
                const req = args.request;
                if (BODY_WRITES.has(context.commandName ?? '') &&
                    req.headers &&
                    req.body instanceof Uint8Array &&
                    !Object.keys(req.headers).some((h) => h.toLowerCase() === 'content-md5')) {
                    req.headers['content-md5'] = (0,external_node_crypto_.createHash)('md5').update(req.body).digest('base64');
                }
                return next(args);
            }, { step: 'build', name: 'partContentMd5' });
        }
        else if (this.o.checksums !== 'sha256') {
            client.middlewareStack.add((next, context) => async (args) => {
                const out = await next(args);
                if (BODY_WRITES.has(context.commandName ?? ''))
                    this.confirmed = true;
                return out;
            }, { step: 'initialize', name: 'checksumsAccepted' });
        }
        return client;
    }
    /**
     * True while a refusal of the checksums would switch this destination to md5 (`auto`, nothing
     * sent with checksums accepted yet): writers keep what they need to send a refused write again.
     */
    get mayFallBack() {
        return this.mode === 'sha256' && !this.confirmed && (this.o.checksums ?? 'auto') === 'auto';
    }
    /**
     * `err` refuses the checksums and the destination may still fall back: switch to md5 for the
     * rest of the run (once; concurrent writers all land here) and say so. The caller sends again.
     */
    fallBack(err) {
        if (!isChecksumRefusal(err))
            return false;
        if (this.mode === 'md5')
            return true;
        if (!this.mayFallBack)
            return false;
        // Requests in flight on the old client finish (or are refused) there; no new one starts on it.
        this.mode = 'md5';
        this.client = this.makeClient();
        const say = this.o.log?.info ?? this.o.log?.warning;
        say?.call(this.o.log, `The S3 store of ${this.label} does not take S3 checksums (x-amz-checksum-*): uploads send Content-MD5 instead (the store checks every body against it) and every object is verified by a HEAD (size and the sha256 metadata). Set photos.destination.checksums: md5 to skip the first refused request.`);
        return true;
    }
    /**
     * Send a request; if the store refuses its checksum headers (auto), once more with the md5
     * client (which sends none: reads too carry `x-amz-checksum-mode` with the default client).
     */
    async request(send) {
        const client = this.client;
        try {
            return await send(client);
        }
        catch (err) {
            // fallBack() swaps the client (or another writer already did): send again with it.
            if (!this.fallBack(err) || this.client === client)
                throw err;
            return await send(this.client);
        }
    }
    key(relPath) {
        return this.keyPrefix + relPath;
    }
    fail(err, op, relPath) {
        return toDestinationError(err, { label: this.label, op, key: relPath });
    }
    /**
     * No lock: S3-compatible stores share no lock primitive (conditional writes are recent and not
     * everywhere). Two overlapping runs upload the same bytes under the same keys, and the state
     * object is replaced whole, so the worst case is repeated work; the workflow's `concurrency:`
     * group keeps scheduled runs from overlapping. Taking the bucket for a run (never for a dry run)
     * aborts the multipart uploads a killed run left, whether or not it lived to save its state;
     * refused credentials stop the run here, before anything is downloaded.
     */
    async lock(_o) {
        try {
            await this.sweep();
        }
        catch (err) {
            if (err instanceof errors/* AppError */.u && err.code === 'DESTINATION_AUTH')
                throw err;
            this.o.log?.warning(`Could not look for unfinished uploads in ${this.label}: ${err.message}`);
        }
        return { release: async () => undefined };
    }
    async loadState() {
        let body;
        try {
            const r = await this.request((c) => c.send(new dist_cjs.GetObjectCommand({ Bucket: this.bucket, Key: this.key(STATE_OBJECT) })));
            body = r.Body;
        }
        catch (err) {
            if (isNotFound(err))
                return undefined;
            throw this.fail(err, 'GetObject', STATE_OBJECT);
        }
        const it = body[Symbol.asyncIterator]();
        const first = await it.next();
        const head = first.done ? Buffer.alloc(0) : Buffer.from(first.value);
        const rest = {
            async *[Symbol.asyncIterator]() {
                yield head;
                for (let r = await it.next(); !r.done; r = await it.next())
                    yield r.value;
            },
        };
        try {
            if ((0,stream_blob/* isEncryptedStream */.xp)(head)) {
                if (!this.o.sessionKey) {
                    this.o.log?.warning(`The download state in ${this.label} is encrypted and no session key was given: the bucket is listed instead (nothing is uploaded twice).`);
                    return undefined;
                }
                // Collected whole before parsing: a chunk that fails its tag ends the stream first.
                const parts = [];
                await (0,promises_.pipeline)(external_node_stream_.Readable.from(rest), (0,stream_blob/* decryptStream */.UC)(this.o.sessionKey, this.sealContext), (0,external_node_zlib_.createGunzip)(), async (source) => {
                    for await (const c of source)
                        parts.push(c);
                });
                return (0,photos_state/* parseState */.Bu)(Buffer.concat(parts).toString('utf8'));
            }
            const parts = [];
            for await (const c of rest)
                parts.push(Buffer.from(c));
            return (0,photos_state/* parseState */.Bu)(Buffer.concat(parts).toString('utf8'));
        }
        catch (err) {
            if (err instanceof Error && err.name === 'BlobError') {
                this.o.log?.warning(`The download state in ${this.label} cannot be opened (${err.message}): the bucket is listed instead (nothing is uploaded twice).`);
                return undefined;
            }
            throw this.fail(err, 'GetObject', STATE_OBJECT);
        }
    }
    async saveState(state) {
        for (;;) {
            const client = this.client;
            try {
                await this.uploadState(state);
                return;
            }
            catch (err) {
                // The body is a generator: a refusal of the checksums is sent again from the state.
                if (this.fallBack(err) && this.client !== client)
                    continue;
                throw this.fail(err, 'PutObject', STATE_OBJECT);
            }
        }
    }
    async uploadState(state) {
        const pieces = (0,photos_state/* serializeStatePieces */.Rs)(state);
        const bytes = (function* () {
            for (const p of pieces)
                yield Buffer.from(p, 'utf8');
        })();
        const plain = external_node_stream_.Readable.from(bytes);
        // The same sealed format as the hand-off state's cache entry (stream-blob.ts), bound to this
        // bucket and prefix instead of a repository: the CLI and the action both open it.
        const body = this.o.sessionKey
            ? plain.pipe((0,external_node_zlib_.createGzip)()).pipe((0,stream_blob/* encryptStream */.UO)(this.o.sessionKey, this.sealContext))
            : plain;
        // One PutObject or a multipart upload, either way the new object replaces the old one whole.
        const upload = new lib_storage_dist_cjs/* Upload */._({
            client: this.client,
            params: {
                Bucket: this.bucket,
                Key: this.key(STATE_OBJECT),
                Body: body,
                ContentType: this.o.sessionKey ? 'application/octet-stream' : 'application/json',
                ...this.partChecksum(),
                ...this.encryption(),
            },
            partSize: this.partSize,
            queueSize: 1,
        });
        await upload.done();
    }
    /** What a lib-storage upload carries for the mode (md5: the client adds Content-MD5 per part). */
    partChecksum() {
        return this.mode === 'sha256' ? { ChecksumAlgorithm: 'SHA256' } : {};
    }
    loadListing() {
        this.listing ??= (async () => {
            const folders = new Map();
            let token;
            do {
                let page;
                try {
                    page = await this.request((c) => c.send(new dist_cjs.ListObjectsV2Command({
                        Bucket: this.bucket,
                        Prefix: this.keyPrefix || undefined,
                        ContinuationToken: token,
                    })));
                }
                catch (err) {
                    throw this.fail(err, 'ListObjectsV2');
                }
                for (const obj of page.Contents ?? []) {
                    const rel = obj.Key?.slice(this.keyPrefix.length);
                    if (!rel || rel.startsWith(`${STATE_DIR}/`) || rel.endsWith('/'))
                        continue;
                    const slash = rel.lastIndexOf('/');
                    const dir = slash < 0 ? '' : rel.slice(0, slash);
                    let m = folders.get(dir);
                    if (!m)
                        folders.set(dir, (m = new Map()));
                    m.set(rel.slice(slash + 1), obj.Size ?? 0);
                }
                token = page.IsTruncated ? page.NextContinuationToken : undefined;
            } while (token);
            return folders;
        })();
        // A failed listing is not cached: the next call tries again.
        this.listing.catch(() => (this.listing = undefined));
        return this.listing;
    }
    /** Answered from one listing of the whole prefix (one ListObjectsV2 per 1000 objects). */
    async listFolder(relDir) {
        const folders = await this.loadListing();
        return new Map(folders.get(relDir.replace(/\/+$/, '')) ?? []);
    }
    async stat(relPath) {
        try {
            const h = await this.request((c) => c.send(new dist_cjs.HeadObjectCommand({ Bucket: this.bucket, Key: this.key(relPath) })));
            return h.ContentLength;
        }
        catch (err) {
            if (isNotFound(err))
                return undefined;
            throw this.fail(err, 'HeadObject', relPath);
        }
    }
    async remove(relPath) {
        try {
            await this.request((c) => c.send(new dist_cjs.DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(relPath) })));
        }
        catch (err) {
            if (isNotFound(err))
                return;
            throw this.fail(err, 'DeleteObject', relPath);
        }
    }
    /** Abort multipart uploads under the prefix that a killed run left (started before this run). */
    async sweep(_keep) {
        let keyMarker;
        let uploadIdMarker;
        const stale = [];
        try {
            for (;;) {
                const page = await this.request((c) => c.send(new dist_cjs.ListMultipartUploadsCommand({
                    Bucket: this.bucket,
                    Prefix: this.keyPrefix || undefined,
                    KeyMarker: keyMarker,
                    UploadIdMarker: uploadIdMarker,
                })));
                for (const u of page.Uploads ?? []) {
                    if (u.Key && u.UploadId && (!u.Initiated || u.Initiated.getTime() < this.openedAt)) {
                        stale.push({ Key: u.Key, UploadId: u.UploadId });
                    }
                }
                if (!page.IsTruncated)
                    break;
                keyMarker = page.NextKeyMarker;
                uploadIdMarker = page.NextUploadIdMarker;
            }
            for (const u of stale) {
                await this.request((c) => c.send(new dist_cjs.AbortMultipartUploadCommand({ Bucket: this.bucket, ...u })));
                this.o.log?.debug(`aborted a stale multipart upload of ${u.Key}`);
            }
        }
        catch (err) {
            throw this.fail(err, 'ListMultipartUploads');
        }
    }
    encryption() {
        return {
            ...(this.o.serverSideEncryption && {
                ServerSideEncryption: this.o.serverSideEncryption,
            }),
            ...(this.o.kmsKeyId && { SSEKMSKeyId: this.o.kmsKeyId }),
        };
    }
    /** What every photo object carries (storage class, encryption, type, date). */
    objectParams(task, sha256) {
        return {
            Bucket: this.bucket,
            Key: this.key(task.relPath),
            ContentType: task.contentType ?? (0,sync/* contentTypeOf */.JX)(task.relPath),
            Metadata: {
                created: new Date(task.mtime).toISOString(),
                ...(sha256 && { sha256 }),
            },
            ...(this.o.storageClass && { StorageClass: this.o.storageClass }),
            ...this.encryption(),
        };
    }
    async openWriter(task) {
        return new S3FileWriter(this, task, this.partSize, this.queueSize);
    }
    /** A verified object joins the listing (a later listFolder sees it). */
    noteWritten(relPath, size) {
        void this.listing?.then((folders) => {
            const slash = relPath.lastIndexOf('/');
            const dir = slash < 0 ? '' : relPath.slice(0, slash);
            let m = folders.get(dir);
            if (!m)
                folders.set(dir, (m = new Map()));
            m.set(relPath.slice(slash + 1), size);
        }, () => undefined);
    }
    /** Map an error for the writer. */
    error(err, op, relPath) {
        return this.fail(err, op, relPath);
    }
}
/**
 * One upload attempt. Bytes are held until they pass one part; a file that ends sooner is one
 * PutObject with its SHA-256 (S3 checks the whole object against it). A longer one becomes a
 * lib-storage multipart upload fed through a stream with back-pressure (each part carries its own
 * SHA-256, which S3 checks); at commit the sha256 metadata is set by copying the object onto itself,
 * and a HEAD confirms size and metadata. In md5 mode (a store that refuses S3 checksums) each body
 * carries Content-MD5 instead, and every object is HEAD-verified.
 *
 * While the destination may still fall back (`auto`, no checksum accepted yet), a multipart writer
 * keeps references to the chunks it streamed: if the store refuses the checksums, the upload starts
 * again with the md5 client from those chunks, within this attempt.
 */
class S3FileWriter {
    dest;
    task;
    partSize;
    queueSize;
    offset = 0;
    buffered = [];
    bufferedBytes = 0;
    written = 0;
    stream;
    upload;
    done;
    failure;
    /** Everything streamed so far, kept only while a checksum refusal could still be sent again. */
    held;
    /** Bumped when the upload starts again: a stale stream's events are ignored. */
    generation = 0;
    constructor(dest, task, partSize, queueSize) {
        this.dest = dest;
        this.task = task;
        this.partSize = partSize;
        this.queueSize = queueSize;
    }
    async *existing() { }
    async write(chunk) {
        await this.recover();
        this.written += chunk.length;
        if (!this.stream) {
            this.buffered.push(chunk);
            this.bufferedBytes += chunk.length;
            if (this.bufferedBytes <= this.partSize)
                return;
            const first = this.buffered;
            this.buffered = [];
            if (this.dest.mayFallBack)
                this.held = [...first];
            this.startMultipart();
            await this.pushAll(first);
            return;
        }
        if (this.held && !this.dest.mayFallBack)
            this.held = undefined;
        this.held?.push(chunk);
        await this.push(chunk);
    }
    startMultipart() {
        const gen = ++this.generation;
        const stream = new external_node_stream_.PassThrough({ highWaterMark: 1024 * 1024 });
        this.stream = stream;
        // abort() fails the stream on purpose; lib-storage may have stopped reading it by then.
        stream.on('error', () => undefined);
        this.upload = new lib_storage_dist_cjs/* Upload */._({
            client: this.dest.client,
            params: { ...this.dest.objectParams(this.task), Body: stream, ...this.dest.partChecksum() },
            partSize: this.partSize,
            queueSize: this.queueSize,
            leavePartsOnError: false,
        });
        this.done = this.upload.done();
        this.done.catch((err) => {
            if (gen === this.generation)
                this.failure ??= err;
            // Unblock a write waiting for 'drain'.
            stream.emit('drain');
        });
    }
    /** Push chunks unless the upload starts again meanwhile (the restart pushes them itself). */
    async pushAll(chunks) {
        const gen = this.generation;
        for (const c of chunks) {
            if (gen !== this.generation)
                return;
            await this.push(c);
        }
    }
    async push(chunk) {
        const s = this.stream;
        const gen = this.generation;
        if (!s.write(chunk))
            await new Promise((resolve) => s.once('drain', resolve));
        if (gen === this.generation)
            await this.recover();
    }
    /** A failed upload: start again in md5 mode if the store refused the checksums, else throw. */
    async recover() {
        const err = this.failure;
        if (!err)
            return;
        if (!(await this.restart(err)))
            throw this.dest.error(err, 'UploadPart', this.task.relPath);
    }
    async restart(err) {
        const chunks = this.held;
        if (!chunks || !this.dest.fallBack(err) || this.dest.mode !== 'md5')
            return false;
        this.held = undefined;
        this.failure = undefined;
        this.stream?.destroy();
        this.startMultipart();
        await this.pushAll(chunks);
        return true;
    }
    async commit(done) {
        const relPath = this.task.relPath;
        if (this.written !== done.size) {
            throw new errors/* AppError */.u('DESTINATION', `Wrote ${this.written} bytes of ${relPath} but ${done.size} were expected.`);
        }
        const checksum = Buffer.from(done.sha256, 'hex').toString('base64');
        if (!this.stream) {
            // One buffer for the request; the chunks go at once (memory is the part size, not twice it).
            const body = Buffer.concat(this.buffered);
            this.buffered = [];
            try {
                // md5 mode: the client adds Content-MD5 of the body.
                await this.dest.request((client) => client.send(new dist_cjs.PutObjectCommand({
                    ...this.dest.objectParams(this.task, done.sha256),
                    Body: body,
                    ContentLength: body.length,
                    ...(this.dest.mode === 'sha256' && { ChecksumSHA256: checksum }),
                })));
                if (this.dest.mode === 'md5')
                    await this.verify(done, true);
            }
            catch (err) {
                throw this.dest.error(err, 'PutObject', relPath);
            }
            this.dest.noteWritten(relPath, done.size);
            return;
        }
        for (;;) {
            this.stream.end();
            try {
                await this.done;
                break;
            }
            catch (err) {
                if (await this.restart(err))
                    continue;
                throw this.dest.error(err, 'multipart upload of', relPath);
            }
        }
        this.held = undefined;
        const key = this.dest.key(relPath);
        const params = this.dest.objectParams(this.task, done.sha256);
        const copied = done.size <= COPY_LIMIT;
        try {
            if (copied) {
                const source = `${params.Bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
                await this.dest.request((client) => client.send(new dist_cjs.CopyObjectCommand({ ...params, CopySource: source, MetadataDirective: 'REPLACE' })));
            }
            await this.verify(done, copied);
        }
        catch (err) {
            throw this.dest.error(err, copied ? 'CopyObject' : 'HeadObject', relPath);
        }
        this.dest.noteWritten(relPath, done.size);
    }
    /** HEAD the object: its size, and the sha256 metadata when it was set. */
    async verify(done, withMetadata) {
        const key = this.dest.key(this.task.relPath);
        const head = await this.dest.request((c) => c.send(new dist_cjs.HeadObjectCommand({ Bucket: this.dest.bucket, Key: key })));
        if (head.ContentLength !== done.size || (withMetadata && head.Metadata?.sha256 !== done.sha256)) {
            throw new errors/* AppError */.u('DESTINATION', `The object ${key} in ${this.dest.label} does not match what was uploaded (size ${head.ContentLength} of ${done.size}).`, 'It is uploaded again on the next attempt.');
        }
    }
    async abort() {
        this.buffered = [];
        this.held = undefined;
        if (!this.stream || !this.done)
            return;
        // Failing the body makes lib-storage abort the multipart upload (AbortMultipartUpload), and
        // `done` settles only after that: no orphaned parts. A failure to abort is swept next run.
        this.generation++;
        this.stream.destroy(new Error('upload cancelled'));
        await this.done.catch(() => undefined);
    }
}


/***/ })

};
