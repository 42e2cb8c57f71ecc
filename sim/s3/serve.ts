/**
 * The local S3 server as a process of its own (bench): a real store is another machine, so its
 * CPU must not share the event loop of the fake iCloud that serves the downloads. Prints one JSON
 * line with the server's URL and keys, serves until SIGTERM.
 */
import { startLocalS3 } from './server.js'

const buckets = process.argv.slice(2)
const s3 = await startLocalS3({ buckets })
process.stdout.write(
  JSON.stringify({ url: s3.url, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }) + '\n',
)
process.on('SIGTERM', () => {
  void s3.close().then(() => process.exit(0))
})
