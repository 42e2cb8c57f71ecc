/**
 * S3 failures as the app's errors. Messages name the bucket, the operation and S3's error code,
 * never a credential: SDK messages are not copied for refused credentials (SignatureDoesNotMatch
 * carries the string to sign), and the SDK error stays in `cause` only.
 */
import { AppError } from '../core/errors.js'

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
])

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
])

interface SdkErrorLike {
  name?: string
  Code?: string
  code?: string
  message?: string
  $metadata?: { httpStatusCode?: number }
}

/** S3's error code of an SDK error (or a Node error code), and its HTTP status. */
export function s3ErrorCode(err: unknown): { code: string; status?: number } {
  const e = (err ?? {}) as SdkErrorLike
  const code = e.Code ?? e.code ?? e.name ?? 'Error'
  return { code, status: e.$metadata?.httpStatusCode }
}

export function isNotFound(err: unknown): boolean {
  const { code, status } = s3ErrorCode(err)
  return code === 'NoSuchKey' || code === 'NotFound' || (status === 404 && code !== 'NoSuchBucket')
}

/**
 * A store that refuses S3's flexible checksums (aws/aws-sdk-js-v3#6810): Backblaze B2's `400
 * InvalidArgument: Unsupported header 'x-amz-checksum-crc32'…`, Cloudflare R2's former `501
 * NotImplemented: Header 'x-amz-checksum-crc32'… not implemented`, or an `aws-chunked` body
 * refused as `XAmzContentSHA256Mismatch`. Only when the message names a checksum header.
 */
export function isChecksumRefusal(err: unknown): boolean {
  const { code, status } = s3ErrorCode(err)
  const message = (err as SdkErrorLike | undefined)?.message ?? ''
  const refused =
    (code === 'InvalidArgument' && (status === undefined || status === 400)) ||
    (code === 'NotImplemented' && (status === undefined || status === 501)) ||
    code === 'XAmzContentSHA256Mismatch'
  return refused && /checksum|x-amz-content-sha256/i.test(message)
}

const AUTH_REMEDIATION =
  'Check the credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (or the role of ' +
  'aws-actions/configure-aws-credentials) and that they may list, read, write and delete under the prefix.'

/** Turn an SDK (or network) error into DESTINATION_AUTH or DESTINATION; AppErrors pass through. */
export function toDestinationError(err: unknown, o: { label: string; op: string; key?: string }): AppError {
  if (err instanceof AppError) return err
  const { code, status } = s3ErrorCode(err)
  const http = status ? `, HTTP ${status}` : ''
  const what = o.key ? `${o.op} ${o.key}` : o.op
  if (AUTH_CODES.has(code) || status === 401 || (status === 403 && code !== 'RequestTimeTooSkewed')) {
    return new AppError(
      'DESTINATION_AUTH',
      `The S3 destination ${o.label} refused the credentials or the access (${code}${http}) on ${what}.`,
      AUTH_REMEDIATION,
      { cause: err },
    )
  }
  if (code === 'NoSuchBucket') {
    return new AppError(
      'DESTINATION',
      `The bucket of the S3 destination ${o.label} does not exist (NoSuchBucket).`,
      'Create the bucket, or fix `photos.destination.bucket`, `region` and `endpoint`.',
      { cause: err },
    )
  }
  if (NETWORK_CODES.has(code)) {
    return new AppError(
      'DESTINATION',
      `Cannot reach the S3 destination ${o.label} (${code}) on ${what}.`,
      'Check `photos.destination.endpoint` and the network; the run can be retried.',
      { cause: err },
    )
  }
  return new AppError(
    'DESTINATION',
    `The S3 destination ${o.label} failed ${what} (${code}${http}).`,
    'If it repeats, check the storage provider’s status and the bucket settings; the next run retries.',
    { cause: err },
  )
}
