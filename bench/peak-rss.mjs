// Preloaded (`node --import`) into a measured run of the bundle: at exit, writes the process's
// peak RSS in KiB (VmHWM: both threads, launcher and worker) to $BENCH_PEAK_FILE.
import { readFileSync, writeFileSync } from 'node:fs'

process.on('exit', () => {
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))
  writeFileSync(process.env.BENCH_PEAK_FILE, hwm ? hwm[1] : String(process.resourceUsage().maxRSS))
})
