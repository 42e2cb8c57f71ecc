/**
 * The small interface between a signed-in session and the photos engine: the session's HTTP
 * client (cookies and all) plus what accountLogin reported (the CloudKit URL and the dsid).
 */
import { AppError } from '../core/errors.js'
import type { HttpClient } from '../icloud/http.js'
import { CloudKitClient } from './cloudkit.js'

export interface SignedIn {
  session: { http: HttpClient; clientId: string; endpoints: { home: string } }
  account: { dsid: string; webservices: Record<string, string> }
}

export function cloudKitFor(auth: SignedIn): CloudKitClient {
  const databaseUrl = auth.account.webservices.ckdatabasews
  if (!databaseUrl) {
    throw new AppError(
      'ICLOUD_SETUP_INCOMPLETE',
      'The account has no iCloud Photos database service.',
      'Sign in once at https://www.icloud.com to finish setting up iCloud, and make sure iCloud Photos is on.',
    )
  }
  return new CloudKitClient({
    http: auth.session.http,
    databaseUrl,
    clientId: auth.session.clientId,
    dsid: auth.account.dsid,
    home: auth.session.endpoints.home,
  })
}
