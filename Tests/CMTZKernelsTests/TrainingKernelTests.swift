// The training kernels of mtz_training_kernels.h against naive references.
//
//  - mtz_gemm_pack_kn, on every ISA's panel layout (runnable or not: mtz_gemm falls back to the
//    generic scalar kernel with the same tile): the packed buffer equals mtz_gemm_pack of the
//    transposed matrix bit for bit, and mtz_gemm with it matches a double-precision A·B
//    (tolerance as GEMMTests: 1e-4 + 1e-5*sqrt(K)*|ref|).
//  - mtz_transpose, mtz_im2col: exact (pure data movement).
//  - mtz_col2im_add: bit-identical to a naive scatter in the same order (each dx element receives at
//    most one value per output pixel, in pixel order), and the adjoint identity
//    <im2col(x), c> == <x, col2im(c)> (double sums, relative 1e-5 of the sum of |terms|).
//  - pooling backward: exact against naive references (same addition order); avg pool also against
//    central finite differences of mtz_avgpool2d; max pool's chosen tap holds mtz_maxpool2d's output.
// Input view gaps hold NaN (a read outside the view would show), output gaps a sentinel that must
// survive, and every output is accumulated onto random starting values.
import CMTZKernels
import Testing

/// A [rows][cols] matrix with row stride `ld` (gaps hold `gap`), values uniform in [-1, 1).
private func randomMatrix(rows: Int, cols: Int, ld: Int, gap: Float, _ rng: inout KernelTestRNG) -> FloatBuffer {
    let m = FloatBuffer(count: max(rows * ld, 1), fill: gap)
    for r in 0..<rows { for c in 0..<cols { m[r * ld + c] = rng.float() } }
    return m
}

/// Index of the first float outside a [rows][cols] view (stride ld) that no longer holds `sentinel`.
private func touchedGap(_ b: FloatBuffer, rows: Int, cols: Int, ld: Int, sentinel: Float) -> Int? {
    for i in 0..<b.count {
        let inView = i / ld < rows && i % ld < cols
        if !inView && b[i].bitPattern != sentinel.bitPattern { return i }
    }
    return nil
}

// MARK: - pack_kn and transpose

/// Packs B [K][N] (row stride ldb) with mtz_gemm_pack_kn and checks the layout and a GEMM with it.
private func checkPackKN(_ isa: mtz_isa, m: Int, n: Int, k: Int, ldb: Int, hasBias: Bool, seed: UInt64) -> String? {
    var rng = KernelTestRNG(seed: seed)
    let b = randomMatrix(rows: k, cols: n, ld: ldb, gap: .nan, &rng)
    let bias = FloatBuffer(random: n, &rng)
    let a = randomMatrix(rows: m, cols: k, ld: k + 1, gap: .nan, &rng)
    let size = mtz_gemm_packed_size(isa, k, n)
    let packed = FloatBuffer(count: size, fill: .nan)
    mtz_gemm_pack_kn(isa, k, n, b.base, ldb, hasBias ? bias.base : nil, packed.base)

    // The same panels through the [N][K] packer.
    let w = FloatBuffer(count: max(n * k, 1))
    for p in 0..<k { for j in 0..<n { w[j * k + p] = b[p * ldb + j] } }
    let expectedPacked = FloatBuffer(count: size, fill: .nan)
    mtz_gemm_pack(isa, k, n, w.base, k, hasBias ? bias.base : nil, expectedPacked.base)
    let what = "\(isaName(isa)) M=\(m) N=\(n) K=\(k) ldb=\(ldb) bias=\(hasBias)"
    if !packed.bitwiseEqual(expectedPacked) {
        let i = (0..<size).first { packed[$0].bitPattern != expectedPacked[$0].bitPattern }!
        return "\(what): packed[\(i)] = \(packed[i]), mtz_gemm_pack wrote \(expectedPacked[i])"
    }

    let ldc = n + 3
    let c = FloatBuffer(count: m * ldc, fill: outputSentinel)
    mtz_gemm(isa, m, n, k, a.base, k + 1, packed.base, c.base, ldc, 0, MTZ_ACT_NONE)
    let expected = c.copy()
    for i in 0..<m {
        for j in 0..<n {
            var sum = hasBias ? Double(bias[j]) : 0
            for p in 0..<k { sum += Double(a[i * (k + 1) + p]) * Double(b[p * ldb + j]) }
            expected[i * ldc + j] = Float(sum)
        }
    }
    let rel = 1e-5 * Float(max(k, 1)).squareRoot()
    if let mismatch = firstMismatch(c, expected, abs: 1e-4, rel: rel) { return "\(what): \(mismatch)" }
    return nil
}

// MARK: - im2col / col2im

/// Naive im2col of output pixels [begin, end) for `group` into col (row stride ldCol).
private func referenceIm2col(_ p: mtz_conv2d_params, group: Int, _ x: FloatBuffer, begin: Int, end: Int,
                             _ col: FloatBuffer, ldCol: Int)
{
    let icg = p.in_c / p.groups
    for pix in begin..<end {
        let oy = pix / p.out_w, ox = pix % p.out_w
        for ky in 0..<p.kernel_h {
            for kx in 0..<p.kernel_w {
                let iy = oy * p.stride_h + ky * p.dilation_h - p.pad_top
                let ix = ox * p.stride_w + kx * p.dilation_w - p.pad_left
                let inside = iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w
                for c in 0..<icg {
                    let v: Float = inside ? x[(iy * p.in_w + ix) * p.in_pixel_stride + group * icg + c] : 0
                    col[(pix - begin) * ldCol + (ky * p.kernel_w + kx) * icg + c] = v
                }
            }
        }
    }
}

/// Naive col2im: scatter-adds the col rows of output pixels [begin, end) into dx, dropping padded taps.
private func referenceCol2im(_ p: mtz_conv2d_params, group: Int, _ col: FloatBuffer, ldCol: Int, begin: Int,
                             end: Int, _ dx: FloatBuffer)
{
    let icg = p.in_c / p.groups
    for pix in begin..<end {
        let oy = pix / p.out_w, ox = pix % p.out_w
        for ky in 0..<p.kernel_h {
            for kx in 0..<p.kernel_w {
                let iy = oy * p.stride_h + ky * p.dilation_h - p.pad_top
                let ix = ox * p.stride_w + kx * p.dilation_w - p.pad_left
                guard iy >= 0, iy < p.in_h, ix >= 0, ix < p.in_w else { continue }
                for c in 0..<icg {
                    dx[(iy * p.in_w + ix) * p.in_pixel_stride + group * icg + c] +=
                        col[(pix - begin) * ldCol + (ky * p.kernel_w + kx) * icg + c]
                }
            }
        }
    }
}

/// im2col and col2im of one geometry, every group, whole range and a split one.
private func checkIm2colCol2im(_ c: ConvCase, colGap: Int, seed: UInt64) -> String? {
    guard var p = c.params, mtz_conv2d_params_valid(&p) == 1 else { return "\(c): bad test case" }
    var rng = KernelTestRNG(seed: seed)
    let pixels = p.out_h * p.out_w, inPixels = p.in_h * p.in_w
    let icg = p.in_c / p.groups
    let k = p.kernel_h * p.kernel_w * icg, ldCol = k + colGap
    let x = stridedView(pixels: inPixels, channels: p.in_c, stride: p.in_pixel_stride, gapValue: .nan, &rng)
    let begin = pixels > 2 ? 1 : 0 // a range that does not start at pixel 0
    let cut = begin + (pixels - begin) / 2
    let rows = pixels - begin

    for g in 0..<p.groups {
        let what = "\(c) group \(g) colGap \(colGap)"
        // im2col: one call and a split call against the reference; the row gaps keep the sentinel.
        let expected = FloatBuffer(count: rows * ldCol, fill: outputSentinel)
        referenceIm2col(p, group: g, x, begin: begin, end: pixels, expected, ldCol: ldCol)
        let whole = FloatBuffer(count: rows * ldCol, fill: outputSentinel), split = whole.copy()
        mtz_im2col(&p, g, x.base, begin, pixels, whole.base, ldCol)
        mtz_im2col(&p, g, x.base, begin, cut, split.base, ldCol)
        mtz_im2col(&p, g, x.base, cut, pixels, split.base + (cut - begin) * ldCol, ldCol)
        if !whole.bitwiseEqual(expected) { return "im2col \(what): differs from the reference" }
        if !split.bitwiseEqual(expected) { return "im2col \(what): split call differs" }

        // col2im: exact against the naive scatter (accumulating onto random dx), gaps untouched.
        let col = randomMatrix(rows: rows, cols: k, ld: ldCol, gap: .nan, &rng)
        let dx = stridedView(pixels: inPixels, channels: p.in_c, stride: p.in_pixel_stride,
                             gapValue: outputSentinel, &rng)
        let dxExpected = dx.copy(), dxSplit = dx.copy()
        referenceCol2im(p, group: g, col, ldCol: ldCol, begin: begin, end: pixels, dxExpected)
        mtz_col2im_add(&p, g, col.base, ldCol, begin, pixels, dx.base)
        mtz_col2im_add(&p, g, col.base, ldCol, begin, cut, dxSplit.base)
        mtz_col2im_add(&p, g, col.base + (cut - begin) * ldCol, ldCol, cut, pixels, dxSplit.base)
        if !dx.bitwiseEqual(dxExpected) {
            let i = (0..<dx.count).first { dx[$0].bitPattern != dxExpected[$0].bitPattern }!
            return "col2im \(what): dx[\(i)] = \(dx[i]), expected \(dxExpected[i])"
        }
        if !dxSplit.bitwiseEqual(dxExpected) { return "col2im \(what): split call differs" }

        // Adjoint identity on a fresh dx: <im2col(x), col> == <x, col2im(col)>.
        let fresh = FloatBuffer(count: inPixels * p.in_pixel_stride)
        mtz_col2im_add(&p, g, col.base, ldCol, begin, pixels, fresh.base)
        var lhs = 0.0, rhs = 0.0, scale = 0.0
        for r in 0..<rows {
            for j in 0..<k {
                let t = Double(whole[r * ldCol + j]) * Double(col[r * ldCol + j])
                lhs += t
                scale += Swift.abs(t)
            }
        }
        for q in 0..<inPixels {
            for ch in 0..<p.in_c { rhs += Double(x[q * p.in_pixel_stride + ch]) * Double(fresh[q * p.in_pixel_stride + ch]) }
        }
        if Swift.abs(lhs - rhs) > 1e-5 * scale + 1e-6 {
            return "adjoint \(what): <im2col(x), c> = \(lhs), <x, col2im(c)> = \(rhs)"
        }
    }
    return nil
}

/// Kernel shapes x strides x dilations x padding styles, over 1-3 groups and view gaps.
private func im2colGrid() -> [ConvCase] {
    var cases: [ConvCase] = []
    var n = 0
    for (kH, kW) in [(1, 1), (2, 2), (3, 3), (5, 5), (1, 3), (3, 1)] {
        for stride in 1...3 {
            for dil in 1...2 {
                n += 1
                var c = ConvCase(inH: 8, inW: 7, kH: kH, kW: kW, strideH: stride, strideW: stride == 3 ? 2 : stride,
                                 dilH: dil, dilW: dil)
                c.groups = [1, 2, 3][n % 3]
                c.inC = [1, 3, 5, 2][n % 4] * c.groups
                c.outC = c.groups
                let effH = (kH - 1) * dil + 1, effW = (kW - 1) * dil + 1
                switch n % 3 {
                case 0: break
                case 1:
                    c.padTop = (effH - 1) / 2
                    c.padBottom = effH - 1 - c.padTop
                    c.padRight = (effW - 1) / 2
                    c.padLeft = effW - 1 - c.padRight
                default:
                    c.padTop = effH - 1
                    c.padRight = effW - 1
                }
                c.inGap = n % 2 == 0 ? 3 : 0
                if c.params != nil { cases.append(c) }
            }
        }
    }
    // LeNet-5's two convolutions, a 1x1 input padded to a 3x3 window, a window with no valid tap.
    cases.append(ConvCase(inH: 28, inW: 28, inC: 1, outC: 20, kH: 5, kW: 5))
    cases.append(ConvCase(inH: 12, inW: 12, inC: 20, outC: 50, kH: 5, kW: 5))
    cases.append(ConvCase(inC: 4, outC: 1, kH: 3, kW: 3, padTop: 1, padBottom: 1, padLeft: 1, padRight: 1))
    cases.append(ConvCase(inC: 2, outC: 1, kH: 2, kW: 2, dilH: 2, dilW: 2, padTop: 1, padBottom: 1, padLeft: 1,
                          padRight: 1))
    return cases
}

// MARK: - Pooling backward

private func poolGrid() -> [PoolCase] {
    var cases = poolWindowGrid()
    cases.append(PoolCase(inH: 24, inW: 24, channels: 20, kH: 2, kW: 2, stride: 2)) // LeNet-5 pool 1
    cases.append(PoolCase(inH: 8, inW: 8, channels: 50, kH: 2, kW: 2, stride: 2)) // LeNet-5 pool 2
    cases.append(PoolCase(inH: 1, inW: 1, channels: 9, kH: 3, kW: 3, stride: 1, padTop: 1, padBottom: 1,
                              padLeft: 1, padRight: 1))
    cases.append(PoolCase(inH: 4, inW: 4, channels: 300, kH: 2, kW: 2, stride: 2, inGap: 1, outGap: 1))
    return cases
}

/// Naive max pooling backward: the first strictly greater tap in (ky, kx) order wins. Also returns
/// the first output where mtz_maxpool2d's value differs from the chosen input (nil if none).
private func referenceMaxPoolBackward(_ p: mtz_conv2d_params, _ x: FloatBuffer, _ dy: FloatBuffer, _ dx: FloatBuffer,
                                      forward: FloatBuffer) -> String?
{
    var problem: String? = nil
    for oy in 0..<p.out_h {
        for ox in 0..<p.out_w {
            for c in 0..<p.out_c {
                var best = -Float.infinity, at = -1
                for ky in 0..<p.kernel_h {
                    for kx in 0..<p.kernel_w {
                        let iy = oy * p.stride_h + ky - p.pad_top, ix = ox * p.stride_w + kx - p.pad_left
                        guard iy >= 0, iy < p.in_h, ix >= 0, ix < p.in_w else { continue }
                        let i = (iy * p.in_w + ix) * p.in_pixel_stride + c
                        if at < 0 || x[i] > best { best = x[i]; at = i }
                    }
                }
                let o = (oy * p.out_w + ox) * p.out_pixel_stride + c
                dx[at] += dy[o]
                if problem == nil && forward[o].bitPattern != x[at].bitPattern {
                    problem = "output \(o): forward \(forward[o]) but the chosen tap holds \(x[at])"
                }
            }
        }
    }
    return problem
}

/// Naive average pooling backward with the forward's divisor rule.
private func referenceAvgPoolBackward(_ p: mtz_conv2d_params, _ dy: FloatBuffer, _ dx: FloatBuffer, includePad: Bool) {
    for oy in 0..<p.out_h {
        for ox in 0..<p.out_w {
            var taps: [Int] = []
            for ky in 0..<p.kernel_h {
                for kx in 0..<p.kernel_w {
                    let iy = oy * p.stride_h + ky - p.pad_top, ix = ox * p.stride_w + kx - p.pad_left
                    if iy >= 0, iy < p.in_h, ix >= 0, ix < p.in_w { taps.append((iy * p.in_w + ix) * p.in_pixel_stride) }
                }
            }
            let divisor = Float(includePad ? p.kernel_h * p.kernel_w : taps.count)
            for c in 0..<p.out_c {
                let share = dy[(oy * p.out_w + ox) * p.out_pixel_stride + c] / divisor
                for t in taps { dx[t + c] += share }
            }
        }
    }
}

private func checkMaxPoolBackward(_ c: PoolCase, ties: Bool, seed: UInt64) -> String? {
    var p = c.params
    guard mtz_conv2d_params_valid(&p) == 1 else { return "\(c): bad test case" }
    var rng = KernelTestRNG(seed: seed)
    let inPixels = c.inH * c.inW, pixels = p.out_h * p.out_w
    let x = stridedView(pixels: inPixels, channels: c.channels, stride: p.in_pixel_stride, gapValue: .nan, &rng)
    if ties { // -0, +0 and 1 only: most windows hold several equal maxima, some of both zero signs
        let values: [Float] = [-0.0, 0.0, 1.0]
        for q in 0..<inPixels { for ch in 0..<c.channels { x[q * p.in_pixel_stride + ch] = values[rng.nextInt(below: 3)] } }
    }
    let dy = stridedView(pixels: pixels, channels: c.channels, stride: p.out_pixel_stride, gapValue: .nan, &rng)
    let dx = stridedView(pixels: inPixels, channels: c.channels, stride: p.in_pixel_stride,
                         gapValue: outputSentinel, &rng)
    let expected = dx.copy()
    let forward = FloatBuffer(count: pixels * p.out_pixel_stride)
    mtz_maxpool2d(MTZ_ISA_SCALAR, &p, x.base, forward.base, 0, pixels)
    if let f = referenceMaxPoolBackward(p, x, dy, expected, forward: forward) { return "max \(c): reference: \(f)" }
    mtz_maxpool2d_backward(&p, x.base, dy.base, dx.base)
    if let m = firstMismatch(dx, expected, abs: 0, rel: 0) { return "max \(c) ties \(ties): \(m)" }
    return nil
}

private func checkAvgPoolBackward(_ c: PoolCase, includePad: Bool, seed: UInt64) -> String? {
    var p = c.params
    guard mtz_conv2d_params_valid(&p) == 1 else { return "\(c): bad test case" }
    var rng = KernelTestRNG(seed: seed)
    let inPixels = c.inH * c.inW, pixels = p.out_h * p.out_w
    let dy = stridedView(pixels: pixels, channels: c.channels, stride: p.out_pixel_stride, gapValue: .nan, &rng)
    let dx = stridedView(pixels: inPixels, channels: c.channels, stride: p.in_pixel_stride,
                         gapValue: outputSentinel, &rng)
    let start = dx.copy(), expected = dx.copy()
    referenceAvgPoolBackward(p, dy, expected, includePad: includePad)
    mtz_avgpool2d_backward(&p, dy.base, dx.base, includePad ? 1 : 0)
    let what = "avg \(c) includePad \(includePad)"
    if let m = firstMismatch(dx, expected, abs: 0, rel: 0) { return "\(what): \(m)" }

    // Central differences of L(x) = sum(dy * avgpool(x)) for a few input elements; L is linear, so
    // only float rounding in the forward pass separates them from the gradient.
    let x = stridedView(pixels: inPixels, channels: c.channels, stride: p.in_pixel_stride, gapValue: 0, &rng)
    let out = FloatBuffer(count: pixels * p.out_pixel_stride)
    func loss() -> Double {
        mtz_avgpool2d(MTZ_ISA_SCALAR, &p, x.base, out.base, 0, pixels, includePad ? 1 : 0)
        var sum = 0.0
        for q in 0..<pixels { for ch in 0..<c.channels { sum += Double(dy[q * p.out_pixel_stride + ch]) * Double(out[q * p.out_pixel_stride + ch]) } }
        return sum
    }
    let h: Float = 0.25
    for _ in 0..<8 {
        let i = rng.nextInt(below: inPixels) * p.in_pixel_stride + rng.nextInt(below: c.channels)
        let saved = x[i]
        x[i] = saved + h
        let up = loss()
        x[i] = saved - h
        let down = loss()
        x[i] = saved
        let numeric = (up - down) / Double(2 * h)
        let analytic = Double(dx[i] - start[i])
        if Swift.abs(numeric - analytic) > 1e-4 { return "\(what): dL/dx[\(i)] = \(analytic), finite difference \(numeric)" }
    }
    return nil
}

// MARK: - Suite

@Suite struct TrainingKernelTests {
    @Test func packKNEveryISA() {
        var failures: [String] = []
        var seed: UInt64 = 1
        for raw in 0..<Int(MTZ_ISA_COUNT) {
            let isa = mtz_isa(UInt32(raw))
            let nr = mtz_gemm_nr(isa), mr = mtz_gemm_mr(isa)
            let ns = Array(Set([1, nr - 1, nr, nr + 1, 2 * nr + 5, 100].filter { $0 >= 1 })).sorted()
            for k in [0, 1, 7, 64, 300] {
                for n in ns {
                    for m in [1, mr + 1] {
                        seed += 1
                        let ldb = seed % 2 == 0 ? n : n + 5
                        if let f = checkPackKN(isa, m: m, n: n, k: k, ldb: ldb, hasBias: seed % 3 != 0, seed: seed) {
                            failures.append(f)
                        }
                    }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures, e.g.:\n\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test func transposeGrid() {
        var failures: [String] = []
        var rng = KernelTestRNG(seed: 99)
        let sizes = [1, 3, 8, 9, 16, 31, 32, 33, 70]
        for rows in sizes {
            for cols in sizes {
                let ldIn = cols + (rows % 2), ldOut = rows + (cols % 3)
                let a = randomMatrix(rows: rows, cols: cols, ld: ldIn, gap: .nan, &rng)
                let out = FloatBuffer(count: cols * ldOut, fill: outputSentinel)
                mtz_transpose(rows, cols, a.base, ldIn, out.base, ldOut)
                var ok = true
                for i in 0..<rows { for j in 0..<cols where out[j * ldOut + i].bitPattern != a[i * ldIn + j].bitPattern { ok = false } }
                if !ok { failures.append("\(rows)x\(cols): wrong values") }
                if let g = touchedGap(out, rows: cols, cols: rows, ld: ldOut, sentinel: outputSentinel) {
                    failures.append("\(rows)x\(cols): wrote gap \(g)")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures, e.g.:\n\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test func im2colAndCol2imGrid() {
        var failures: [String] = []
        for (i, c) in im2colGrid().enumerated() {
            if let f = checkIm2colCol2im(c, colGap: i % 2 == 0 ? 0 : 3, seed: UInt64(i) &* 7919 &+ 3) {
                failures.append(f)
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures, e.g.:\n\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test func maxPoolBackwardGrid() {
        var failures: [String] = []
        for (i, c) in poolGrid().enumerated() {
            for ties in [false, true] {
                if let f = checkMaxPoolBackward(c, ties: ties, seed: UInt64(i) + 11) { failures.append(f) }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures, e.g.:\n\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test func avgPoolBackwardGrid() {
        var failures: [String] = []
        for (i, c) in poolGrid().enumerated() {
            for includePad in [false, true] {
                if let f = checkAvgPoolBackward(c, includePad: includePad, seed: UInt64(i) + 23) { failures.append(f) }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures, e.g.:\n\(failures.prefix(5).joined(separator: "\n"))")
    }

    /// The forward max pooling picks the first maximum on every ISA, which the backward relies on.
    @Test func maxPoolForwardTieRuleIsISAIndependent() {
        var rng = KernelTestRNG(seed: 5)
        var p = PoolCase(inH: 6, inW: 6, channels: 19, kH: 3, kW: 3, stride: 1, padTop: 1, padBottom: 1,
                             padLeft: 1, padRight: 1).params
        let x = FloatBuffer(count: 36 * 19)
        let values: [Float] = [-0.0, 0.0, 1.0]
        for i in 0..<x.count { x[i] = values[rng.nextInt(below: 3)] }
        let reference = FloatBuffer(count: 36 * 19)
        mtz_maxpool2d(MTZ_ISA_SCALAR, &p, x.base, reference.base, 0, 36)
        for isa in runnableISAs where isa != MTZ_ISA_NEON {
            let out = FloatBuffer(count: 36 * 19)
            mtz_maxpool2d(isa, &p, x.base, out.base, 0, 36)
            #expect(out.bitwiseEqual(reference), "\(isaName(isa))")
        }
    }
}
