/** Child process of the kill test in photos-metadata.test.ts: one set-exif-datetime edit, killed midway. */
import { setExifDateTimeFile } from '../../src/photos/exif.js'

const [file, date] = process.argv.slice(2) as [string, string]
process.stdout.write('start\n')
await setExifDateTimeFile(file, date, 0)
process.stdout.write('done\n')
