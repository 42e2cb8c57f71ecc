import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  N,
  N_BYTES,
  bigintToBytes,
  bytesToBigint,
  computeClientProof,
  computeClientS,
  computeX,
  createClientEphemeral,
  derivePasswordKey,
  g,
  k,
  modPow,
  pad,
  saltForHash,
  verifyServerProof,
  type SrpProtocol,
} from '../src/icloud/srp.js'
import { isAppError } from '../src/core/errors.js'
import {
  computeServerS,
  createServerEphemeral,
  createVerifier,
  verifyClientProof,
} from '../sim/icloud/srp-server.js'

interface Vector {
  accountName: string
  password: string
  protocol: SrpProtocol
  iterations: number
  salt_b64: string
  derived_password_key_hex: string
  verifier_hex: string
  a_private_hex: string
  b_private_hex: string
  A_b64: string
  B_b64: string
  m1_b64: string
  m2_b64: string
}

const fixtureUrl = new URL('./fixtures/srp-vectors.json', import.meta.url)
const fixture = JSON.parse(readFileSync(fixtureUrl, 'utf8')) as { vectors: Vector[] }
const b64 = (s: string): Buffer => Buffer.from(s, 'base64')

describe('srp: library-generated vectors (fixtures/srp-vectors.json)', () => {
  it('covers s2k, s2k_fo and a salt with a leading zero byte', () => {
    const protocols = fixture.vectors.map((v) => v.protocol)
    expect(protocols).toContain('s2k')
    expect(protocols).toContain('s2k_fo')
    expect(fixture.vectors.some((v) => b64(v.salt_b64)[0] === 0)).toBe(true)
  })

  for (const v of fixture.vectors) {
    const label = `${v.protocol} ${v.accountName} (salt starts 0x${b64(v.salt_b64)[0]!.toString(16).padStart(2, '0')})`

    it(`client: ${label}`, () => {
      const salt = b64(v.salt_b64)
      expect(derivePasswordKey(v.password, salt, v.iterations, v.protocol).toString('hex')).toBe(
        v.derived_password_key_hex,
      )
      const eph = createClientEphemeral(Buffer.from(v.a_private_hex, 'hex'))
      expect(eph.Abase64).toBe(v.A_b64)
      expect(eph.A).toBe(bytesToBigint(b64(v.A_b64)))
      const proof = computeClientProof({
        accountName: v.accountName,
        password: v.password,
        salt,
        iterations: v.iterations,
        protocol: v.protocol,
        a: eph.a,
        A: eph.A,
        B: b64(v.B_b64),
      })
      expect(proof.m1.toString('base64')).toBe(v.m1_b64)
      expect(proof.m2.toString('base64')).toBe(v.m2_b64)
    })

    it(`server: ${label}`, () => {
      const salt = b64(v.salt_b64)
      const verifier = createVerifier(v.password, salt, v.iterations, v.protocol)
      expect(verifier.toString(16)).toBe(BigInt('0x' + v.verifier_hex).toString(16))
      const eph = createServerEphemeral(verifier, Buffer.from(v.b_private_hex, 'hex'))
      expect(eph.Bbase64).toBe(v.B_b64)
      const check = verifyClientProof({
        accountName: v.accountName,
        salt,
        v: verifier,
        A: bytesToBigint(b64(v.A_b64)),
        b: eph.b,
        B: eph.B,
        m1: b64(v.m1_b64),
        m2: b64(v.m2_b64),
      })
      expect(check.ok).toBe(true)
      expect(check.m2?.toString('base64')).toBe(v.m2_b64)
    })
  }

  it('the zero-leading salt only matches with the leading byte stripped (icloudpd rule)', () => {
    const v = fixture.vectors.find((x) => b64(x.salt_b64)[0] === 0)!
    const salt = b64(v.salt_b64)
    expect(saltForHash(salt).length).toBe(salt.length - 1)
    const key = derivePasswordKey(v.password, salt, v.iterations, v.protocol)
    // The raw-bytes rule (kei, ICPS) gives a different x, hence a different verifier.
    const rawX = bytesToBigint(
      createHash('sha256')
        .update(salt)
        .update(createHash('sha256').update(':').update(key).digest())
        .digest(),
    )
    expect(rawX).not.toBe(computeX(salt, key))
    expect(modPow(g, computeX(salt, key), N).toString(16)).toBe(BigInt('0x' + v.verifier_hex).toString(16))
  })
})

describe('srp: vectors captured from Apple (docs/protocol.md §3.4)', () => {
  const common = {
    accountName: 'test@icloud.com',
    password: 'testPass',
    salt: b64('foI2z4yTi2LkZ+Wrr7HFEQ=='),
    iterations: 20403,
  }
  const aV1 =
    '36953bdd736b6cad38b8d35ff8df6bdafbc9940035668e51a852530e91bdeaceca570b652136ac283135b6c56f6efff0c29dfa38df2b060bc280f55000d134ca4504944869c93690ae500c6dfba045453e7b09b5535512a5a7ac07676466d7730dc50a0de6659ab8bb0c1219cd59cb4061f9baccf66290f0ee746613f60fcd1cce4ec7e632d034893c7e5c451db6bb64c6b00d28193b760ec4ad9446e02ba65017f40adbb7b0a63c8faf4e3d245289a4c5cd74cb990f31ae63c7f261cca8991cb55b393e886488004f986ae4fcddc5b78c62f90a70ee212600d2d691c4b1c61c380e01ce52557ed9cf8cf1ba949004051b169c1d87a436f0c7fe4cee05463af0'
  const aV23 =
    '244edb4780e85085d18b4fc86b1c54a60aeabfecb509b755e21b3fb09b743924569369f488d2ad266ef80602d8f30178b3b8625027b4a99a0f642c117874a54de41eb5cdc5be40d6b44a4e75dbf67a6df1235f0a5088f81a65d987a69533045bda72232165e8ccf772c7214bc7df1e66150a988e1a84f8f689a9bd5d8aaad2cc93a2fa62f523632f4f08eea96d92f6b4948c351e40f71caa6f5d4c85318309fe70ee3f8671d1935eba1005ab6c9f062fc56fd1c69942313a75da0ef4f533371e8bd92ff9457346b0cd2f6f37570257ad2be84ccd643106c827ee8279622860514e9668c66b7c35bafeaab94b4ba8c8aa870968b29675a5e4a0c217bbbf04116f'
  const BV1 =
    'MpKgjml5xFojqbBERp8Rl0GpHzdHhuiNIEkCx9tl0Wpk4zo5MxhTC34b0HnUXPCtIlHTWUUz00n2JyhySIQ+SGprKa/wkod8NzxjeorKuOx/+wsPqS/jZTfb8i9t5iW5lVB7eROg8QYB4gsIn8Bk9zWYExFuuPgL1iYAthYHOlmwAKqsRDX/gSumv0TznUGp9GDrhd9MSXrfIBAY2GN5LPNMR7N84h76PRLF7BgNff7BwC2YLOHVccDb9Axkl5CEuvRxEHx454ju7DtUdinFlZRT7zo4DnLv9msUCubl6djnz/ojhsK+apEw6nHJGT+NhNUsMimfS2Ci4gzTdkey0Q=='
  const BV23 =
    'b44vF54k7KDvvfIeQyEUk90ahsajSqdEv/4kiv/CdPGk0Wf3oVMlGfdrdZtAUrYWD6jzVc4BKbkqsIwZFK7v5o7/bYxYgzllPG5LXO0Ve5Zs4DgZPjFNzb9Ky7kFtC8gl7D5dKmGTxwwiEPRvE6SlmUWOhHTUg2q3EN7cRXV8HkdrYkNONT4ndHKHEuMV6BlVGuNdYDGMSOGidVK1uW1MwxRIzKWZSJLmF4PzUuvT89QWoFzNbDlVRc2R6Xa+sqjMUC9GM5UKcdug9RMLgj7xNXg5HR3HgVyCMe22woaYhpLP1Ak/VpOknXmnBKvEtWu2TIQggEof8CeqasYM8G8qw=='

  const cases: {
    name: string
    a: string
    B: string
    protocol: SrpProtocol
    m1: string
    m2: string
    Aprefix?: string
  }[] = [
    {
      name: 'V1 s2k',
      a: aV1,
      B: BV1,
      protocol: 's2k',
      m1: 'coyV+RHVthWQnlSLUkKhacb66BZSYknWk4Qor/mdoXk=',
      m2: 'w33fr1kA6h+CNOILqTdVfprACbbZiIWNuh6gGHICfgA=',
      Aprefix: 'ZkV+rXv+QSLrX5QowT1kXhGsnAf3eOwcD+N0erUB',
    },
    {
      name: 'V2 s2k',
      a: aV23,
      B: BV23,
      protocol: 's2k',
      m1: 'c7xNNtQ02CHddhMYWL8AyB9jRmztWI0qfS/kNSI3by8=',
      m2: 'yG2kI90zLXED2pa6BmrAo9J7Ux2qiv6y/GtkblxsZhU=',
    },
    {
      name: 'V3 s2k_fo',
      a: aV23,
      B: BV23,
      protocol: 's2k_fo',
      m1: 'NwPNryBXly69Pj+iD1+lJ6lAPdJm8y7rzrif7YaVYH8=',
      m2: 'ScB+7V2jYsBaErwh7Ll/RFWHkOZZIgg0atsbFqreNf0=',
    },
  ]

  for (const c of cases) {
    it(c.name, () => {
      const eph = createClientEphemeral(Buffer.from(c.a, 'hex'))
      if (c.Aprefix) expect(eph.Abase64.startsWith(c.Aprefix)).toBe(true)
      // A is g^a, sent as base64 of its minimal big-endian bytes.
      expect(bytesToBigint(b64(eph.Abase64))).toBe(eph.A)
      const proof = computeClientProof({ ...common, protocol: c.protocol, a: eph.a, A: eph.A, B: b64(c.B) })
      expect(proof.m1.toString('base64')).toBe(c.m1)
      expect(proof.m2.toString('base64')).toBe(c.m2)
    })
  }
})

const hex = (s: string): bigint => BigInt('0x' + s.replace(/\s+/g, ''))

describe('srp: group, padding and guards', () => {
  it('uses the RFC 5054 2048-bit group with k = H(N | PAD(g))', () => {
    expect(bigintToBytes(N).length).toBe(N_BYTES)
    // Fermat check: N is (probably) prime, as a typo in the constant would break it.
    expect(modPow(3n, N - 1n, N)).toBe(1n)
    const padded = Buffer.concat([Buffer.alloc(255), Buffer.from([2])])
    expect(k).toBe(bytesToBigint(createHash('sha256').update(bigintToBytes(N)).update(padded).digest()))
  })

  it('modular arithmetic and padding reproduce RFC 5054 Appendix B (1024-bit group, SHA-1)', () => {
    // Appendix B uses SHA-1 and the username in x, so only k, u, A, B and S are comparable here.
    const N1024 =
      hex(`EEAF0AB9 ADB38DD6 9C33F80A FA8FC5E8 60726187 75FF3C0B 9EA2314C 9C256576 D674DF74 96EA81D3
      383B4813 D692C6E0 E0D5D8E2 50B98BE4 8E495C1D 6089DAD1 5DC7D7B4 6154D6B6 CE8EF4AD 69B15D49 82559B29 7BCF1885
      C529F566 660E57EC 68EDBC3C 05726CC0 2FD4CBF4 976EAA9A FD5138FE 8376435B 9FC61D2F C0EB06E3`)
    const sha1 = (...p: Buffer[]): bigint =>
      bytesToBigint(p.reduce((h, b) => h.update(b), createHash('sha1')).digest())
    const width = 128
    const k1 = sha1(bigintToBytes(N1024), pad(2n, width))
    expect(k1).toBe(hex('7556AA04 5AEF2CDD 07ABAF0F 665C3E81 8913186F'))
    const x = hex('94B7555A ABE9127C C58CCF49 93DB6CF8 4D16C124')
    const v = modPow(2n, x, N1024)
    expect(v).toBe(
      hex(`7E273DE8 696FFC4F 4E337D05 B4B375BE B0DDE156 9E8FA00A 9886D812 9BADA1F1 822223CA 1A605B53 0E379BA4
        729FDC59 F105B478 7E5186F5 C671085A 1447B52A 48CF1970 B4FB6F84 00BBF4CE BFBB1681 52E08AB5 EA53D15C 1AFF87B2
        B9DA6E04 E058AD51 CC72BFC9 033B564E 26480D78 E955A5E2 9E7AB245 DB2BE315 E2099AFB`),
    )
    const a = hex('60975527 035CF2AD 1989806F 0407210B C81EDC04 E2762A56 AFD529DD DA2D4393')
    const b = hex('E487CB59 D31AC550 471E81F0 0F6928E0 1DDA08E9 74A004F4 9E61F5D1 05284D20')
    const A = modPow(2n, a, N1024)
    expect(A).toBe(
      hex(`61D5E490 F6F1B795 47B0704C 436F523D D0E560F0 C64115BB 72557EC4 4352E890 3211C046 92272D8B 2D1A5358
        A2CF1B6E 0BFCF99F 921530EC 8E393561 79EAE45E 42BA92AE ACED8251 71E1E8B9 AF6D9C03 E1327F44 BE087EF0 6530E69F
        66615261 EEF54073 CA11CF58 58F0EDFD FE15EFEA B349EF5D 76988A36 72FAC47B 0769447B`),
    )
    const B = (k1 * v + modPow(2n, b, N1024)) % N1024
    expect(B).toBe(
      hex(`BD0C6151 2C692C0C B6D041FA 01BB152D 4916A1E7 7AF46AE1 05393011 BAF38964 DC46A067 0DD125B9 5A981652
        236F99D9 B681CBF8 7837EC99 6C6DA044 53728610 D0C6DDB5 8B318885 D7D82C7F 8DEB75CE 7BD4FBAA 37089E6F 9C6059F3
        88838E7A 00030B33 1EB76840 910440B1 B27AAEAE EB4012B7 D7665238 A8E3FB00 4B117B58`),
    )
    const u = sha1(pad(A, width), pad(B, width))
    expect(u).toBe(hex('CE38B959 3487DA98 554ED47D 70A7AE5F 462EF019'))
    const S =
      hex(`B0DC82BA BCF30674 AE450C02 87745E79 90A3381F 63B387AA F271A10D 233861E3 59B48220 F7C4693C 9AE12B0A
      6F67809F 0876E2D0 13800D6C 41BB59B6 D5979B5C 00A172B4 A2A5903A 0BDCAF8A 709585EB 2AFAFA8F 3499B200 210DCC1F
      10EB3394 3CD67FC8 8A2F39A4 BE5BEC4E C0A3212D C346D7E4 74B29EDE 8A469FFE CA686E5A`)
    expect(computeClientS(B, x, a, u, { N: N1024, g: 2n, k: k1 })).toBe(S)
    expect(computeServerS(A, v, u, b, N1024)).toBe(S)
  })

  it('pads to the group width and round-trips integers', () => {
    expect(pad(1n).length).toBe(256)
    expect(pad(1n)[255]).toBe(1)
    expect(
      pad(1n)
        .subarray(0, 255)
        .every((b) => b === 0),
    ).toBe(true)
    expect(bigintToBytes(0x00ff10n).toString('hex')).toBe('ff10')
    expect(bigintToBytes(0n).length).toBe(0)
    expect(bytesToBigint(Buffer.from('0001ff', 'hex'))).toBe(0x1ffn)
    expect(() => pad(N * N)).toThrow(RangeError)
  })

  it('defaults to a fresh 32-byte private value', () => {
    const e1 = createClientEphemeral()
    const e2 = createClientEphemeral()
    expect(e1.a).not.toBe(e2.a)
    expect(e1.a < 1n << 256n).toBe(true)
    expect(e1.A).toBe(modPow(g, e1.a, N))
  })

  const base = {
    accountName: 'x@example.com',
    password: 'pw',
    salt: Buffer.alloc(16, 7),
    iterations: 1000,
    protocol: 's2k' as const,
  }

  it('rejects B ≡ 0 (mod N)', () => {
    const { a, A } = createClientEphemeral()
    for (const B of [Buffer.alloc(0), bigintToBytes(N), bigintToBytes(2n * N)]) {
      let err: unknown
      try {
        computeClientProof({ ...base, a, A, B })
      } catch (e) {
        err = e
      }
      expect(isAppError(err, 'PROTOCOL_ERROR')).toBe(true)
      expect((err as Error).message).not.toContain('pw')
    }
  })

  it('rejects iteration counts above 1,000,000 and below 1', () => {
    const { a, A } = createClientEphemeral()
    for (const iterations of [1_000_001, 0, -5, 1.5]) {
      expect(() => computeClientProof({ ...base, iterations, a, A, B: bigintToBytes(5n) })).toThrow(
        expect.objectContaining({ code: 'PROTOCOL_ERROR' }),
      )
    }
  })

  it('a wrong password or account name fails the server check; the right one passes', () => {
    const salt = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
    const v = createVerifier('secret', salt, 1000, 's2k_fo')
    const server = createServerEphemeral(v)
    const client = createClientEphemeral()
    const run = (password: string, accountName: string) => {
      const p = computeClientProof({
        accountName,
        password,
        salt,
        iterations: 1000,
        protocol: 's2k_fo',
        a: client.a,
        A: client.A,
        B: bigintToBytes(server.B),
      })
      const check = verifyClientProof({
        accountName: 'me@example.com',
        salt,
        v,
        A: client.A,
        b: server.b,
        B: server.B,
        m1: p.m1,
        m2: p.m2,
      })
      return { check, p }
    }
    const good = run('secret', 'me@example.com')
    expect(good.check.ok).toBe(true)
    expect(verifyServerProof(good.check.m2!, good.p.m2)).toBe(true)
    expect(run('Secret', 'me@example.com').check.ok).toBe(false)
    expect(run('secret', 'other@example.com').check.ok).toBe(false)
  })
})
