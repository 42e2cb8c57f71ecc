/** `Content-Type` for the files iCloud Photos holds, from the extension. */
const TYPES: Record<string, string> = {
  heic: 'image/heic',
  heif: 'image/heif',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  webp: 'image/webp',
  bmp: 'image/bmp',
  dng: 'image/x-adobe-dng',
  cr2: 'image/x-canon-cr2',
  cr3: 'image/x-canon-cr3',
  nef: 'image/x-nikon-nef',
  arw: 'image/x-sony-arw',
  orf: 'image/x-olympus-orf',
  raf: 'image/x-fuji-raf',
  rw2: 'image/x-panasonic-rw2',
  mov: 'video/quicktime',
  mp4: 'video/mp4',
  m4v: 'video/x-m4v',
  avi: 'video/x-msvideo',
  '3gp': 'video/3gpp',
  json: 'application/json',
}

export function contentTypeFor(relPath: string): string {
  const dot = relPath.lastIndexOf('.')
  const ext = dot >= 0 ? relPath.slice(dot + 1).toLowerCase() : ''
  return TYPES[ext] ?? 'application/octet-stream'
}
