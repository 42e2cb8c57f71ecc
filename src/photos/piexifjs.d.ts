/** The part of piexifjs (JS port of Python's piexif, no types of its own) that exif.ts uses. */
declare module 'piexifjs' {
  /** IFD tag → value; ASCII values are strings, bytes are "binary strings" (one char per byte). */
  export type Ifd = Record<number, unknown>
  export interface ExifDict {
    '0th': Ifd
    Exif: Ifd
    GPS: Ifd
    Interop: Ifd
    '1st': Ifd
    thumbnail: string | null
  }
  /** `data`: a JPEG as a binary string. */
  export function load(data: string): ExifDict
  /** The APP1 segment (`Exif\0\0…`) as a binary string. */
  export function dump(exif: ExifDict): string
  /** The JPEG with its Exif segment replaced or added, as a binary string. */
  export function insert(exif: string, jpeg: string): string
  const piexif: { load: typeof load; dump: typeof dump; insert: typeof insert }
  export default piexif
}
